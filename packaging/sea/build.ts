/**
 * Builds the single-file agent: esbuild bundles agent/main.ts into one CommonJS file (Node's single
 * executable applications run CommonJS only), Node turns it into a SEA blob, and postject injects
 * the blob into a copy of the running Node binary. Hosts then need no Node installed.
 *
 *   npx tsx packaging/sea/build.ts OUTDIR [ENTRY]
 */
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sha256File, writeChecksumFile } from '../checksums.js';

const run = promisify(execFile);

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const AGENT_ENTRY = join(REPO_ROOT, 'agent', 'main.ts');
export const AGENT_SEA_NAME = 'kctl-agent-linux-x64';
/** The fuse Node 20 looks for to know a blob was injected (documented in Node's SEA guide). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaBuildOptions {
  outDir: string;
  /** TypeScript or JavaScript entry; defaults to agent/main.ts */
  entry?: string;
  /** output file name; defaults to kctl-agent-linux-x64 */
  name?: string;
  /** strip the Node binary's symbols first (13 MB less); on when `strip` is installed */
  strip?: boolean;
}

export interface SeaBuildResult {
  path: string;
  sha256: string;
  bytes: number;
  /** size of the bundled JavaScript inside the executable */
  bundleBytes: number;
}

/** Bundles `entry` to one CommonJS file; ESM-only constructs are shimmed for a CJS/SEA runtime. */
export async function bundleToCjs(entry: string, outfile: string): Promise<number> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // ws loads these optional native speed-ups inside try/catch; the agent works without them
    external: ['bufferutil', 'utf-8-validate'],
    define: {
      // import.meta does not exist in CommonJS; inside a SEA the only file is the executable itself
      'import.meta.url': '__kctlImportMetaUrl',
      // a SEA's require() loads built-ins only and warns on anything else: tell ws not to try
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    },
    banner: { js: 'var __kctlImportMetaUrl = require("node:url").pathToFileURL(process.execPath).href;' },
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${entry}`);
  return (await stat(outfile)).size;
}

export async function buildSea(options: SeaBuildOptions): Promise<SeaBuildResult> {
  const entry = options.entry ?? AGENT_ENTRY;
  const name = options.name ?? AGENT_SEA_NAME;
  await mkdir(options.outDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kctl-sea-'));
  try {
    const bundle = join(work, 'main.cjs');
    const bundleBytes = await bundleToCjs(entry, bundle);
    const blob = join(work, 'sea.blob');
    const config = join(work, 'sea-config.json');
    await writeFile(
      config,
      JSON.stringify({
        main: bundle,
        output: blob,
        disableExperimentalSEAWarning: true,
        // V8 code cache made by this same Node binary: faster start (measured in docs/install.md)
        useCodeCache: true,
      }),
    );
    await run(process.execPath, ['--experimental-sea-config', config], { cwd: work });

    const target = join(options.outDir, name);
    const partial = join(work, name);
    await copyFile(process.execPath, partial);
    await chmod(partial, 0o755);
    if (options.strip ?? (await hasProgram('strip'))) await run('strip', ['--strip-all', '--', partial]);
    const postjectCli = createRequire(import.meta.url).resolve('postject/dist/cli.js');
    await run(process.execPath, [postjectCli, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
    await copyFile(partial, target);
    await chmod(target, 0o755);
    const sha256 = await sha256File(target);
    await writeChecksumFile(target, sha256);
    return { path: target, sha256, bytes: (await stat(target)).size, bundleBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function hasProgram(name: string): Promise<boolean> {
  try {
    await run(name, ['--version']);
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [outDir, entry] = process.argv.slice(2);
  if (!outDir) {
    process.stderr.write('usage: npx tsx packaging/sea/build.ts OUTDIR [ENTRY]\n');
    process.exit(2);
  }
  const result = await buildSea({ outDir, ...(entry ? { entry } : {}) });
  process.stdout.write(`${basename(result.path)} ${result.bytes} bytes sha256 ${result.sha256}\n`);
}
