/**
 * State (field 3) and start time (field 22, clock ticks after boot) from the text of
 * /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces and
 * parentheses itself, so fields are counted after its last ")".
 */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}
