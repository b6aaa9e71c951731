/**
 * Pure arithmetic and formatting for the controller scale benchmark (bench/controller-scale.ts):
 * percentiles, per-connection memory, CPU share, loopback source addresses, the result table.
 */

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Bytes each connection added over the baseline, in KiB (KB in the docs means 1024 bytes). */
export function kibPerConnection(after: number, baseline: number, connections: number): number {
  if (connections <= 0) return NaN;
  return (after - baseline) / connections / 1024;
}

/** Share of one core used over a window: CPU microseconds (user + system) over wall milliseconds. */
export function cpuPercent(cpuMicros: number, wallMs: number): number {
  if (wallMs <= 0) return NaN;
  return (cpuMicros / 1000 / wallMs) * 100;
}

/**
 * The loopback source address for connection i: 127.0.0.2, 127.0.0.3, ... round robin over `count`
 * addresses, so that no single (source, destination) pair runs out of ephemeral ports and no source
 * address has more than its share of handshakes in flight (the controller caps them per address).
 */
export function loopbackSource(i: number, count: number): string {
  if (!Number.isInteger(count) || count < 1 || count > 250)
    throw new RangeError(`count ${count} not in 1..250`);
  return `127.0.0.${2 + (i % count)}`;
}

/** How far a figure is over its target, as a sentence fragment ("met" or "missed by 12.5 KB (31%)"). */
export function againstTarget(value: number, target: number, unit: string): string {
  if (!Number.isFinite(value)) return 'not measured';
  if (value <= target) return `met (target ≤ ${target} ${unit})`;
  const over = value - target;
  return `missed by ${fmt(over)} ${unit} (${((over / target) * 100).toFixed(0)}%, target ≤ ${target} ${unit})`;
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** A Markdown table; cells are padded so it also reads as plain text on a terminal. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, c) => (cells[c] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
