/**
 * Preflight speed on this machine: the full check list (bind tests included) and fact gathering through
 * LocalHost('/'), against systeminformation gathering equivalent facts.
 *
 *   npx tsx bench/preflight.ts [runs]
 */
import { performance } from 'node:perf_hooks';
import si from 'systeminformation';
import { LocalHost } from '../agent/host/local-host.js';
import { runPreflight } from '../agent/checks/index.js';
import { gatherFacts } from '../agent/facts.js';
import type { PreflightSpec } from '../proto/checks.js';

const runs = Number(process.argv[2] ?? 50);
const siRuns = Math.max(3, Math.min(runs, 10));

const spec: PreflightSpec = {
  role: 'control-plane',
  kubernetesVersion: 'v1.35.0',
  isFirstControlPlane: true,
  kubeProxyMode: 'ipvs',
  podSubnet: '10.244.0.0/16',
  serviceSubnet: '10.96.0.0/12',
};

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

async function measure(
  name: string,
  n: number,
  body: () => Promise<unknown>,
): Promise<{ name: string; n: number; p50: number; p99: number; max: number }> {
  await body(); // warm-up: module loading, first reads
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await body();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    name,
    n,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times[times.length - 1] ?? NaN,
  };
}

const host = new LocalHost({ root: '/' });
const results = await runPreflight(host, spec, { env: process.env });
const checks = results.length;
const failing = results.filter((r) => r.status === 'fail').map((r) => r.id);

const rows = [
  await measure(`kctl runPreflight (${checks} checks)`, runs, () =>
    runPreflight(host, spec, { env: process.env }),
  ),
  await measure('kctl gatherFacts', runs, () => gatherFacts(host)),
  await measure('systeminformation equivalent facts', siRuns, () =>
    Promise.all([
      si.osInfo(),
      si.cpu(),
      si.mem(),
      si.networkInterfaces(),
      si.fsSize(),
      si.blockDevices(),
      si.system(),
      si.uuid(),
    ]),
  ),
];

const pad = (text: string, width: number): string => text.padEnd(width);
const ms = (value: number): string => `${value.toFixed(1)} ms`.padStart(10);
console.log(
  `node ${process.version}, kernel ${(await host.readFile('/proc/sys/kernel/osrelease'))?.trim() ?? '?'}, ${runs} runs (systeminformation ${siRuns})`,
);
console.log(
  `${pad('what', 44)}${'runs'.padStart(6)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'max'.padStart(10)}`,
);
for (const row of rows)
  console.log(`${pad(row.name, 44)}${String(row.n).padStart(6)}${ms(row.p50)}${ms(row.p99)}${ms(row.max)}`);
const [preflight, facts, siRow] = rows;
if (preflight && facts && siRow) {
  console.log(`systeminformation p50 / kctl gatherFacts p50 = ${(siRow.p50 / facts.p50).toFixed(1)}x`);
  console.log(`systeminformation p50 / kctl full preflight p50 = ${(siRow.p50 / preflight.p50).toFixed(1)}x`);
  console.log(
    `full preflight p99 ${preflight.p99.toFixed(1)} ms: ${preflight.p99 <= 50 ? 'within' : 'OVER'} the 50 ms budget`,
  );
}
console.log(`failing checks on this host: ${failing.join(', ') || 'none'}`);
