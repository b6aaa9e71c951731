/**
 * Builds kctl-agent_<ver>_amd64.deb and kctl-controller_<ver>_amd64.deb with dpkg-deb.
 *
 *   npx tsx packaging/deb/build.ts OUTDIR [--fast]     (--fast: gzip instead of xz)
 *
 * kctl-agent holds the single-file agent (Node built in), its unit and an example config.
 * kctl-controller ships its own Node (the one that built it) instead of depending on the nodejs
 * package: better-sqlite3's native module only loads in the Node ABI it was compiled for, and
 * Debian 12 has Node 18. Next to that Node: the controller bundled by esbuild into one ESM file,
 * the production npm dependencies (npm ls --omit=dev), and the agent artifacts it serves to hosts.
 */
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildArtifacts, type Artifact } from '../artifacts.js';
import { writeChecksumFile } from '../checksums.js';
import { AGENT_SEA_NAME, REPO_ROOT } from '../sea/build.js';
import { buildDeb, type BuiltDeb, type Compression } from './dpkg-deb.js';

const run = promisify(execFile);
const DEB_DIR = join(REPO_ROOT, 'packaging/deb');
const UNIT_DIR = join(REPO_ROOT, 'packaging/systemd');
/** Node's own shared-library needs (GLIBC_2.28, GLIBCXX_3.4.21) and deb-systemd-helper for the scripts */
const RUNTIME_DEPENDS = 'libc6 (>= 2.28), libgcc-s1, libstdc++6 (>= 5.2), init-system-helpers (>= 1.54~)';

export interface DebBuildOptions {
  outDir: string;
  compression?: Compression;
  /** reuse artifacts already built by buildArtifacts() instead of building them again */
  artifacts?: Artifact[];
  agentEntry?: string;
  /** controller CLI entry; defaults to controller/cli/kctl.ts */
  controllerEntry?: string;
}

export interface DebBuildResult {
  agent: BuiltDeb;
  controller: BuiltDeb;
  artifacts: Artifact[];
}

export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function sourceDateEpoch(): Promise<number> {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  try {
    const { stdout } = await run('git', ['-C', REPO_ROOT, 'log', '-1', '--format=%ct']);
    return Number(stdout.trim());
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

/** The agent unit as the package installs it: the binary lives in /usr/bin, not /usr/local/bin. */
export async function debAgentUnit(): Promise<string> {
  const unit = await readFile(join(UNIT_DIR, 'kctl-agent.service'), 'utf8');
  const out = unit
    .replace('install.sh and cloud-init put it here.', 'the kctl-agent package puts it here.')
    .replace('ExecStart=/usr/local/bin/kctl-agent ', 'ExecStart=/usr/bin/kctl-agent ');
  if (!out.includes('ExecStart=/usr/bin/kctl-agent ') || !out.includes('kctl-agent package puts it')) {
    throw new Error('packaging/systemd/kctl-agent.service changed: update debAgentUnit()');
  }
  return out;
}

async function put(stage: string, path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const target = join(stage, path);
  await mkdir(join(target, '..'), { recursive: true });
  await writeFile(target, content);
  await chmod(target, mode);
}

async function buildAgentDeb(
  stage: string,
  agentBinary: string,
  opts: { outDir: string; compression: Compression; version: string; epoch: number },
): Promise<BuiltDeb> {
  await put(stage, 'usr/bin/kctl-agent', await readFile(agentBinary), 0o755);
  await put(stage, 'lib/systemd/system/kctl-agent.service', await debAgentUnit());
  await put(
    stage,
    'etc/kctl/agent.yaml.example',
    await readFile(join(DEB_DIR, 'kctl-agent/agent.yaml.example')),
  );
  return buildDeb({
    stage,
    outDir: opts.outDir,
    compression: opts.compression,
    sourceDateEpoch: opts.epoch,
    control: {
      Package: 'kctl-agent',
      Version: opts.version,
      Depends: RUNTIME_DEPENDS,
      Recommends: 'kmod, procps',
      Section: 'admin',
      Description:
        'kctl agent: bootstraps this host into a Kubernetes cluster\n' +
        ' Runs as a systemd service, keeps one outbound mutual-TLS WebSocket to the\n' +
        ' kctl controller and converges the host as the controller tells it (packages,\n' +
        ' kernel modules, sysctl, kubeadm). A single executable with Node.js built in.\n' +
        ' The service starts once /etc/kctl/agent.yaml exists.',
    },
    conffiles: ['/etc/kctl/agent.yaml.example'],
    scripts: Object.fromEntries(
      ['postinst', 'prerm', 'postrm'].map((s) => [s, join(DEB_DIR, 'kctl-agent', s)]),
    ),
  });
}

/** Production dependencies, copied from node_modules without build leftovers. */
async function copyProductionModules(appDir: string): Promise<void> {
  const r = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: REPO_ROOT,
    maxBuffer: 8 << 20,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const modules = join(REPO_ROOT, 'node_modules');
  const dirs = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(modules + sep));
  if (!dirs.some((d) => d.endsWith(`${sep}better-sqlite3`)))
    throw new Error('npm ls found no production dependencies');
  for (const dir of dirs) {
    const rel = relative(REPO_ROOT, dir);
    await cp(dir, join(appDir, rel), {
      recursive: true,
      filter: (src) => keepModuleFile(relative(dir, src), basename(dir)),
    });
  }
}

/** nested node_modules come as their own entries; better-sqlite3 needs only lib/ and the addon */
function keepModuleFile(rel: string, pkg: string): boolean {
  const parts = rel.split(sep);
  if (parts[0] === 'node_modules' || parts[0] === '.bin') return false;
  if (pkg !== 'better-sqlite3') return true;
  if (['deps', 'src', 'binding.gyp'].includes(parts[0]!)) return false;
  if (parts[0] !== 'build') return true;
  return (
    rel === 'build' ||
    rel === join('build', 'Release') ||
    rel === join('build', 'Release', 'better_sqlite3.node')
  );
}

async function buildControllerDeb(
  stage: string,
  artifacts: Artifact[],
  opts: { outDir: string; compression: Compression; version: string; epoch: number; entry: string },
): Promise<BuiltDeb> {
  const lib = join(stage, 'usr/lib/kctl-controller');
  const app = join(lib, 'app');
  await mkdir(app, { recursive: true });
  const bundled = await build({
    entryPoints: [opts.entry],
    outfile: join(app, 'kctl.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // npm packages stay in app/node_modules: native better-sqlite3 and pino's workers need real files
    packages: 'external',
    legalComments: 'none',
    logLevel: 'silent',
  });
  if (bundled.errors.length > 0) throw new Error(`esbuild failed for ${opts.entry}`);
  await copyProductionModules(app);

  await copyFile(process.execPath, join(lib, 'node'));
  await chmod(join(lib, 'node'), 0o755);
  await run('strip', ['--strip-all', '--', join(lib, 'node')]).catch(() => undefined);
  for (const a of artifacts) {
    await put(lib, `artifacts/${a.name}`, await readFile(a.path), 0o644);
    await put(lib, `artifacts/${a.name}.sha256`, await readFile(`${a.path}.sha256`));
  }
  await put(lib, 'artifacts/SHA256SUMS', artifacts.map((a) => `${a.sha256}  ${a.name}\n`).join(''));
  await put(
    stage,
    'usr/bin/kctl',
    '#!/bin/sh\n' +
      '# kctl CLI and controller, on the Node.js shipped with this package (its native SQLite module\n' +
      '# is built for exactly that Node). KCTL_ARTIFACTS_DIR: the files served at /artifacts/.\n' +
      'KCTL_ARTIFACTS_DIR=${KCTL_ARTIFACTS_DIR:-/usr/lib/kctl-controller/artifacts}\n' +
      'export KCTL_ARTIFACTS_DIR\n' +
      'exec /usr/lib/kctl-controller/node /usr/lib/kctl-controller/app/kctl.mjs "$@"\n',
    0o755,
  );
  await put(
    stage,
    'lib/systemd/system/kctl-controller.service',
    await readFile(join(UNIT_DIR, 'kctl-controller.service')),
  );
  await put(
    stage,
    'etc/kctl/controller.env',
    await readFile(join(DEB_DIR, 'kctl-controller/controller.env')),
  );
  return buildDeb({
    stage,
    outDir: opts.outDir,
    compression: opts.compression,
    sourceDateEpoch: opts.epoch,
    control: {
      Package: 'kctl-controller',
      Version: opts.version,
      Depends: RUNTIME_DEPENDS,
      Section: 'admin',
      Description:
        'kctl controller and CLI: bootstraps Kubernetes hosts through their agents\n' +
        ' Serves the kctl agents (mutual-TLS WebSocket), the admin API used by the kctl\n' +
        ' CLI and the fleet page; plans and applies cluster.yaml. Ships its own Node.js\n' +
        ' and serves the single-file agent to hosts at /artifacts/.',
    },
    conffiles: ['/etc/kctl/controller.env'],
    scripts: Object.fromEntries(
      ['postinst', 'prerm', 'postrm'].map((s) => [s, join(DEB_DIR, 'kctl-controller', s)]),
    ),
  });
}

export async function buildDebs(options: DebBuildOptions): Promise<DebBuildResult> {
  const version = await packageVersion();
  const epoch = await sourceDateEpoch();
  const compression = options.compression ?? 'xz';
  const work = await mkdtemp(join(tmpdir(), 'kctl-deb-'));
  try {
    const artifacts =
      options.artifacts ??
      (await buildArtifacts(
        join(options.outDir, 'artifacts'),
        options.agentEntry ? { agentEntry: options.agentEntry } : {},
      ));
    const agentBinary = artifacts.find((a) => a.name === AGENT_SEA_NAME);
    if (!agentBinary) throw new Error(`artifacts lack ${AGENT_SEA_NAME}`);
    const common = { outDir: options.outDir, compression, version, epoch };
    const agent = await buildAgentDeb(join(work, 'agent'), agentBinary.path, common);
    await writeChecksumFile(agent.path, agent.sha256);
    const controller = await buildControllerDeb(join(work, 'controller'), artifacts, {
      ...common,
      entry: options.controllerEntry ?? join(REPO_ROOT, 'controller/cli/kctl.ts'),
    });
    await writeChecksumFile(controller.path, controller.sha256);
    return { agent, controller, artifacts };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outDir = args.find((a) => !a.startsWith('--'));
  if (!outDir) {
    process.stderr.write('usage: npx tsx packaging/deb/build.ts OUTDIR [--fast]\n');
    process.exit(2);
  }
  const r = await buildDebs({ outDir, compression: args.includes('--fast') ? 'gzip' : 'xz' });
  for (const d of [r.agent, r.controller]) process.stdout.write(`${d.sha256}  ${d.name}\n`);
}
