/**
 * Summarises a V8 .cpuprofile (from --cpu-prof or the inspector): self time per function and the
 * inclusive time of the functions whose name matches a filter, so a benchmark's profile can be read
 * on a terminal.
 *
 *   npx tsx bench/cpu-profile-summary.ts FILE.cpuprofile [--top 30] [--match REGEX]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, match: { type: 'string' } },
});
const file = positionals[0];
if (!file) throw new Error('usage: cpu-profile-summary.ts FILE.cpuprofile [--top N] [--match REGEX]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/^.*\/(node_modules|work\/main)\//, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
};

const selfUs = new Map<string, number>();
const totalUs = new Map<string, number>();
let sum = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  sum += dt;
  const node = byId.get(id);
  if (!node) return;
  selfUs.set(label(node), (selfUs.get(label(node)) ?? 0) + dt);
  // inclusive: every distinct frame on the stack once
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur);
    if (!n) break;
    const l = label(n);
    if (seen.has(l)) continue;
    seen.add(l);
    totalUs.set(l, (totalUs.get(l) ?? 0) + dt);
  }
});

const top = Number(opts.top);
const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`.padStart(10);
process.stdout.write(`${file}: ${(sum / 1000).toFixed(0)} ms sampled\n\nself time:\n`);
for (const [l, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${ms(us)}  ${l}\n`);
process.stdout.write('\ninclusive time:\n');
const match = opts.match ? new RegExp(opts.match) : /^\S+ (controller|proto|agent|bench|ws\/lib)\//;
for (const [l, us] of [...totalUs]
  .filter(([l]) => match.test(l))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top))
  process.stdout.write(`${ms(us)}  ${l}\n`);
