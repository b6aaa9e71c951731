/**
 * Idle memory of an enrolled, connected agent (issue 13 part 7): a real controller on loopback, one
 * agent enrolled with a token over a fixture host root, left idle; then its VmRSS from
 * /proc/PID/status beside a bare `node -e "setInterval(()=>{},1e3)"` measured in the same run.
 * After the idle figure, one `ping` and one `facts.get` through the admin API, and the RSS again;
 * then a `preflight.run` (which loads the checks, probes and execa), and the RSS once more.
 *
 *   npx tsx bench/agent-rss.ts [--mode dist,tsx,sea] [--dist DIR] [--sea FILE] [--idle 30] [--samples 10] [--probe]
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
  },
});
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
      if (!opts.sea || !existsSync(opts.sea))
        throw new Error(`--sea FILE: the single-file agent (got ${opts.sea})`);
      return [resolve(opts.sea), '--config', configFile];
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
