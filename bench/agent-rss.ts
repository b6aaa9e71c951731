/**
 * Idle memory of an enrolled, connected agent (issue 13 part 7): a real controller on loopback, one
 * agent enrolled with a token over a fixture host root, left idle; then its VmRSS from
 * /proc/PID/status beside a bare `node -e "setInterval(()=>{},1e3)"` measured in the same run.
 * After the idle figure, one `ping` and one `facts.get` through the admin API, and the RSS again;
 * then a `preflight.run` (which loads the checks, probes and execa), and the RSS once more.
 *
 *   npx tsx bench/agent-rss.ts [--mode dist,tsx,sea] [--dist DIR] [--sea FILE] [--idle 30] [--samples 10] [--probe]
 *     [--node-options "..."] [--env NAME=VALUE ...]
 *
 * A mode may repeat (`--mode sea,sea,sea`): one controller, the agent measured that many times.
 *
 * dist: `node DIR/agent/main.js` (build it first: `npx tsc -p tsconfig.build.json --outDir DIR`,
 * DIR defaults to dist). sea: the single-file agent (`npx tsx packaging/sea/build.ts OUTDIR`).
 * tsx: `node --import tsx agent/main.ts`, which includes the TypeScript loader's own memory.
 * --probe (dist, tsx): also the agent's V8 heap after a full GC (bench/memory-probe.ts), to see
 * how much of the RSS is JavaScript heap and how much is code, native memory and the runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { HostList, RunOpResponse, TokenCreateResponse } from '../proto/admin-api.js';
import { mib, PROBE_NODE_ARGS, probeMemory } from './memory-probe.js';
import {
  cleanup,
  makeHostRoot,
  REPO,
  startControllerProcess,
  tempDir,
  waitFor,
  type ControllerHandle,
} from '../test/integration/harness.js';

type Mode = 'dist' | 'tsx' | 'sea';

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', default: 'dist' },
    dist: { type: 'string', default: 'dist' },
    sea: { type: 'string' },
    idle: { type: 'string', default: '30' },
    /** idle RSS is the median of this many reads, one a second, after the idle time */
    samples: { type: 'string', default: '10' },
    probe: { type: 'boolean', default: false },
    /** NODE_OPTIONS for the agent alone (e.g. what the systemd unit sets), and MALLOC_ARENA_MAX */
    'node-options': { type: 'string', default: '' },
    'malloc-arena-max': { type: 'string', default: '' },
    /** UV_THREADPOOL_SIZE for the agent alone */
    'uv-threadpool-size': { type: 'string', default: '' },
    /** also print the idle agent's and the bare node's RSS by mapping (/proc/PID/smaps) */
    smaps: { type: 'boolean', default: false },
    /** more of the agent's environment, NAME=VALUE, repeatable (e.g. MALLOC_TRIM_THRESHOLD_=0) */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const extraEnv: Record<string, string> = {};
for (const pair of opts.env ?? []) {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new Error(`--env: expected NAME=VALUE, got "${pair}"`);
  extraEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
}
const modes = (opts.mode ?? 'dist').split(',') as Mode[];
for (const m of modes) if (!['dist', 'tsx', 'sea'].includes(m)) throw new Error(`--mode: unknown "${m}"`);
const idleMs = Number(opts.idle) * 1000;
const distDir = resolve(REPO, opts.dist ?? 'dist');

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS, its anonymous (heap, stacks) and file-backed (the binary, libraries) parts and VmHWM (peak), in MiB */
function memoryOf(pid: number): {
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  peakMiB: number;
  threads: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return {
    rssMiB: kib('VmRSS') / 1024,
    anonMiB: kib('RssAnon') / 1024,
    fileMiB: kib('RssFile') / 1024,
    peakMiB: kib('VmHWM') / 1024,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]),
  };
}

/** RSS (KiB) by mapping name from /proc/PID/smaps: the binary, [heap] (malloc), anonymous (V8 heap, stacks) */
function rssByMapping(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const perms = header[1] ?? '';
      name = `${header[2] || '[anon]'} ${perms.includes('x') ? 'x' : perms.includes('w') ? 'w' : 'r'}`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
  }
  return byName;
}

function sayMappings(label: string, agentPid: number, barePid: number): void {
  const [a, b] = [rssByMapping(agentPid), rssByMapping(barePid)];
  // the SEA's own file and node's binary are different paths for the same code: compare by role
  const role = (n: string): string =>
    n.replace(/^\/\S*\/(node|kctl-agent-linux-x64)( |$)/, '<node binary>$2');
  const sum = (m: Map<string, number>): Map<string, number> => {
    const out = new Map<string, number>();
    for (const [k, v] of m) out.set(role(k), (out.get(role(k)) ?? 0) + v);
    return out;
  };
  const [sa, sb] = [sum(a), sum(b)];
  const names = [...new Set([...sa.keys(), ...sb.keys()])]
    .map((n) => ({ n, agent: sa.get(n) ?? 0, bare: sb.get(n) ?? 0 }))
    .filter((r) => r.agent + r.bare >= 256)
    .sort((x, y) => y.agent - y.bare - (x.agent - x.bare));
  say(`${label} RSS by mapping (MiB, agent / bare node / difference; r, w, x: the mapping's access):`);
  for (const r of names)
    say(`  ${r.n.padEnd(48)} ${mib1(r.agent)} / ${mib1(r.bare)} / ${mib1(r.agent - r.bare)}`);
}
const mib1 = (kib: number): string => (kib / 1024).toFixed(1).padStart(5);

/** the median of a few samples one second apart: a single read can land on a GC or a heartbeat */
async function settledRss(pid: number, samples = Number(opts.samples)): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(memoryOf(pid).rssMiB);
    await sleep(1000);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? NaN;
}

/** `--sea A,B`: the i-th sea entry of --mode runs file i modulo their count (A and B interleaved, one controller) */
const seaFiles = (opts.sea ?? '').split(',').filter(Boolean);
let seaRuns = 0;

function agentCommand(mode: Mode, configFile: string): string[] {
  switch (mode) {
    case 'dist': {
      const main = join(distDir, 'agent', 'main.js');
      if (!existsSync(main))
        throw new Error(`${main} missing: npx tsc -p tsconfig.build.json --outDir ${distDir}`);
      return [process.execPath, ...(opts.probe ? PROBE_NODE_ARGS : []), main, '--config', configFile];
    }
    case 'tsx':
      return [
        process.execPath,
        ...(opts.probe ? PROBE_NODE_ARGS : []),
        '--import',
        'tsx',
        'agent/main.ts',
        '--config',
        configFile,
      ];
    case 'sea': {
      const sea = seaFiles[seaRuns++ % Math.max(1, seaFiles.length)];
      if (!sea || !existsSync(sea)) throw new Error(`--sea FILE: the single-file agent (got ${opts.sea})`);
      say(`sea: ${sea}`);
      return [resolve(sea), '--config', configFile];
    }
  }
}

function start(argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.unref();
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

interface Row {
  mode: Mode;
  idleMiB: number;
  afterOpsMiB: number;
  afterPreflightMiB: number;
  peakMiB: number;
  bareMiB: number;
}

async function measure(controller: ControllerHandle, mode: Mode, index: number): Promise<Row> {
  const name = `rss-${mode}-${index}`;
  const { token } = await controller.api.post(
    '/v1/admin/tokens',
    { ttlMs: 600_000, uses: 1 },
    TokenCreateResponse,
  );
  const stateDir = await tempDir(`agent-${name}`);
  const hostRoot = await makeHostRoot(name);
  const configFile = join(stateDir, 'agent.yaml');
  await writeFile(
    configFile,
    toYaml({
      controller: controller.url,
      caPin: controller.caPin,
      token,
      stateDir: join(stateDir, 'state'),
      hostRoot,
      logLevel: 'info',
    }),
  );
  const probeFile = join(stateDir, 'memory.jsonl');
  const agent = start(agentCommand(mode, configFile), {
    KCTL_BENCH_MEMORY_OUT: probeFile,
    ...(opts['node-options'] ? { NODE_OPTIONS: opts['node-options'] } : {}),
    ...(opts['malloc-arena-max'] ? { MALLOC_ARENA_MAX: opts['malloc-arena-max'] } : {}),
    ...(opts['uv-threadpool-size'] ? { UV_THREADPOOL_SIZE: opts['uv-threadpool-size'] } : {}),
    ...extraEnv,
  });
  const bare = start([process.execPath, '-e', 'setInterval(()=>{},1e3)']);
  try {
    await waitFor(
      `${name} online`,
      async () =>
        (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some(
          (h) => h.name === name && h.online,
        ),
      60_000,
      200,
    );
    await sleep(idleMs);
    const [idleMiB, bareMiB] = await Promise.all([settledRss(agent.pid!), settledRss(bare.pid!)]);
    const [a, b] = [memoryOf(agent.pid!), memoryOf(bare.pid!)];
    say(
      `${mode}: anonymous ${a.anonMiB.toFixed(1)} MiB + file-backed ${a.fileMiB.toFixed(1)} MiB (bare node ${b.anonMiB.toFixed(1)} + ${b.fileMiB.toFixed(1)}); threads ${a.threads} (bare node ${b.threads})`,
    );
    if (opts.smaps) sayMappings(mode, agent.pid!, bare.pid!);
    for (const op of ['ping', 'facts.get'] as const) {
      await controller.api.post('/v1/admin/ops', { host: name, op, args: {} }, RunOpResponse, 30_000);
    }
    await sleep(2000);
    const afterOpsMiB = await settledRss(agent.pid!);
    // a command that loads real work: the preflight checks (execa, probes), as a plan or apply does
    const preflightStart = performance.now();
    await controller.api.post(
      '/v1/admin/ops',
      {
        host: name,
        op: 'preflight.run',
        args: {
          spec: {
            role: 'control-plane',
            kubernetesVersion: 'v1.33.0',
            isFirstControlPlane: true,
            kubeProxyMode: 'iptables',
            podSubnet: '10.244.0.0/16',
            serviceSubnet: '10.96.0.0/12',
          },
        },
      },
      RunOpResponse,
      120_000,
    );
    say(
      `${mode}: preflight.run took ${Math.round(performance.now() - preflightStart)} ms (first run: loads its code)`,
    );
    await sleep(2000);
    const afterPreflightMiB = await settledRss(agent.pid!);
    if (opts.probe && mode !== 'sea') {
      const m = await probeMemory(agent, probeFile);
      const spaces = Object.entries(m.spaces)
        .filter(([, used]) => used > 2 ** 19)
        .map(([name, used]) => `${name} ${mib(used)}`)
        .join(', ');
      say(
        `${mode} after a full GC: RSS ${mib(m.vmRss)} MiB, V8 heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)} (${spaces}), external ${mib(m.external)}, malloced by V8 ${mib(m.mallocedMemory)}`,
      );
    }
    return { mode, idleMiB, afterOpsMiB, afterPreflightMiB, peakMiB: memoryOf(agent.pid!).peakMiB, bareMiB };
  } finally {
    await Promise.all([stop(agent), stop(bare)]);
    await cleanup([stateDir, hostRoot]);
  }
}

const controller = await startControllerProcess();
const rows: Row[] = [];
try {
  for (const [i, mode] of modes.entries()) {
    const row = await measure(controller, mode, i);
    rows.push(row);
    say(
      `${mode}: idle ${row.idleMiB.toFixed(1)} MiB, after ping+facts ${row.afterOpsMiB.toFixed(1)} MiB, after preflight ${row.afterPreflightMiB.toFixed(1)} MiB, peak ${row.peakMiB.toFixed(1)} MiB; bare node ${row.bareMiB.toFixed(1)} MiB (${(row.idleMiB / row.bareMiB).toFixed(2)}x)`,
    );
  }
} finally {
  await controller.proc.stop();
  await cleanup([controller.dataDir]);
}
say('');
say(
  '| agent | idle RSS (MiB) | after ping + facts.get | after preflight.run | peak (VmHWM) | bare node (MiB) | idle / bare |',
);
say('|---|---|---|---|---|---|---|');
for (const r of rows) {
  say(
    `| ${r.mode} | ${r.idleMiB.toFixed(1)} | ${r.afterOpsMiB.toFixed(1)} | ${r.afterPreflightMiB.toFixed(1)} | ${r.peakMiB.toFixed(1)} | ${r.bareMiB.toFixed(1)} | ${(r.idleMiB / r.bareMiB).toFixed(2)}x |`,
  );
}
process.exit(0);
