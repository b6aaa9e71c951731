import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';

/**
 * Builds the kubeadm, kubelet and kubectl STAND-INS into single executable files (esbuild bundles,
 * CommonJS, 0755). Builds are cached by a hash of the sources, the lockfile, the options and the
 * node binary, so repeated test runs only copy files.
 *
 * Shebang: `#!/usr/bin/env node` when `env` finds this node on the agent's fixed PATH
 * (/usr/sbin:/usr/bin:/sbin:/bin); otherwise the absolute path of this node, because the agent
 * runs programs with that PATH (plus a test bin directory) and `env node` would not find it.
 *
 *   npx tsx test/standins/build.ts OUT_DIR [--version v1.32.1] [--shebang env|absolute]
 */

export const STANDIN_TOOLS = ['kubeadm', 'kubelet', 'kubectl'] as const;
export type StandinTool = (typeof STANDIN_TOOLS)[number];

export interface BuildStandinsOptions {
  /** the version the binaries claim when no version file or KCTL_STANDIN_VERSION says otherwise (default v1.31.2) */
  version?: string;
  /** `env`: `#!/usr/bin/env node`; `absolute`: `#!<this node>`; default: see above */
  shebang?: 'env' | 'absolute';
}

/** The agent's program PATH (agent/host/local-host.ts DEFAULT_PROGRAM_PATH). */
const AGENT_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function shebangLine(kind: BuildStandinsOptions['shebang']): string {
  const envFindsThisNode = AGENT_PATH.includes(dirname(process.execPath));
  return (kind ?? (envFindsThisNode ? 'env' : 'absolute')) === 'env'
    ? '#!/usr/bin/env node'
    : `#!${process.execPath}`;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const CACHE = join(REPO, 'node_modules', '.cache', 'kctl-standins');

async function sourceHash(settings: string): Promise<string> {
  const h = createHash('sha256').update(`${settings}\0`);
  const files = (await readdir(HERE)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  for (const f of files)
    h.update(`${f}\0`)
      .update(await readFile(join(HERE, f)))
      .update('\0');
  h.update(await readFile(join(REPO, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  h.update(`${esbuildVersion}\0${process.execPath}\0${process.version}`);
  return h.digest('hex').slice(0, 24);
}

async function isBuilt(dir: string): Promise<boolean> {
  try {
    await Promise.all(STANDIN_TOOLS.map((t) => stat(join(dir, t))));
    return true;
  } catch {
    return false;
  }
}

async function buildInto(dir: string, shebang: string, version: string | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(
    STANDIN_TOOLS.map((tool) =>
      build({
        entryPoints: [join(HERE, `${tool}.ts`)],
        outfile: join(dir, tool),
        bundle: true,
        platform: 'node',
        target: 'node20',
        // CommonJS: some bundled dependencies call require() dynamically
        format: 'cjs',
        banner: {
          js: `${shebang}\n// ${tool}: kctl STAND-IN built from test/standins/${tool}.ts; not the real ${tool}`,
        },
        define: version ? { __KCTL_STANDIN_BUILD_VERSION__: JSON.stringify(version) } : {},
        legalComments: 'none',
        logLevel: 'silent',
      }),
    ),
  );
  // an extensionless file inside a "type": "module" package would be read as ESM
  await writeFile(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
}

/** Builds (or reuses) the stand-ins and puts `kubeadm`, `kubelet` and `kubectl` (mode 0755) into outDir. */
export async function buildStandins(outDir: string, options: BuildStandinsOptions = {}): Promise<void> {
  if (options.version !== undefined && !/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(options.version)) {
    throw new Error(`stand-in version "${options.version}" is not a version like v1.31.2`);
  }
  const shebang = shebangLine(options.shebang);
  const hash = await sourceHash(`${shebang}\0${options.version ?? ''}`);
  const cached = join(CACHE, hash);
  if (!(await isBuilt(cached))) {
    const tmp = join(CACHE, `.${hash}.${process.pid}.${randomBytes(4).toString('hex')}`);
    await buildInto(tmp, shebang, options.version);
    try {
      await rename(tmp, cached);
    } catch {
      // another test process finished the same build first
      await rm(tmp, { recursive: true, force: true });
    }
  }
  await mkdir(outDir, { recursive: true });
  for (const tool of STANDIN_TOOLS) {
    await copyFile(join(cached, tool), join(outDir, tool));
    await chmod(join(outDir, tool), 0o755);
  }
  await copyFile(join(cached, 'package.json'), join(outDir, 'package.json'));
}

function parseCliArgs(argv: readonly string[]): { outDir: string; options: BuildStandinsOptions } {
  const positionals: string[] = [];
  const options: BuildStandinsOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.startsWith('--') ? (arg.split('=', 2) as [string, string?]) : [arg];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--version') options.version = value();
    else if (flag === '--shebang') {
      const v = value();
      if (v !== 'env' && v !== 'absolute') throw new Error('--shebang is env or absolute');
      options.shebang = v;
    } else if (flag.startsWith('-')) throw new Error(`unknown flag ${flag}`);
    else positionals.push(arg);
  }
  const [outDir] = positionals;
  if (outDir === undefined || positionals.length > 1) {
    throw new Error(
      'usage: npx tsx test/standins/build.ts OUT_DIR [--version v1.31.2] [--shebang env|absolute]',
    );
  }
  return { outDir: resolve(outDir), options };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const { outDir, options } = parseCliArgs(process.argv.slice(2));
    await buildStandins(outDir, options);
    for (const tool of STANDIN_TOOLS) process.stdout.write(`${join(outDir, tool)}\n`);
  } catch (err) {
    process.stderr.write(`build.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
