/**
 * Builds the single-file agent: esbuild bundles agent/main.ts into one CommonJS file (Node's single
 * executable applications run CommonJS only), Node turns it into a SEA blob, and postject injects
 * the blob into a copy of the running Node binary. Hosts then need no Node installed.
 *
 *   npx tsx packaging/sea/build.ts OUTDIR [ENTRY]
 */
import { build, type Plugin } from 'esbuild';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
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

/**
 * Code the daemon never runs, left out of the single file (issue 13 part 7, fourth pass). The bundle
 * is held twice at run time, as a V8 heap string and as the blob's pages, so every KiB counts twice.
 * Each entry replaces one module by a small stand-in; `importer` names the only package allowed to
 * import it, so a new use elsewhere is bundled for real instead of being silently stubbed.
 */
export interface SeaStub {
  /** matches the import specifier as written */
  filter: RegExp;
  /** the importing file's path must contain this */
  importer: string;
  why: string;
  contents: string;
}

export const SEA_STUBS: readonly SeaStub[] = [
  {
    // zod's `z` namespace re-exports every locale (300 KiB); the schemas use the English one, which
    // zod's classic schemas import from locales/en.js directly
    filter: /^\.\.\/locales\/index\.js$/,
    importer: '/node_modules/zod/',
    why: "zod's other locales",
    contents: 'export { default as en } from "./en.js";\n',
  },
  {
    // z.fromJSONSchema builds schemas from JSON Schema documents; no kctl code does
    filter: /^\.\/from-json-schema\.js$/,
    importer: '/node_modules/zod/',
    why: "zod's fromJSONSchema",
    contents:
      'export function fromJSONSchema() { throw new Error("z.fromJSONSchema is not part of the single-file agent"); }\n',
  },
  {
    // z.compile (ahead-of-time compiled parsers) runs only when called or imported as "zod/compile";
    // no kctl code does. The error classes stay real so `instanceof` checks elsewhere keep working.
    filter: /^\.\/compile\.js$/,
    importer: '/node_modules/zod/v4/core/',
    why: "zod's schema compiler",
    contents: [
      'const absent = () => { throw new Error("z.compile is not part of the single-file agent"); };',
      'export const INVALID = Symbol.for("zod.compile.invalid");',
      'export class ZodCompileAsyncError extends Error {}',
      'export class ZodCompileUnsupportedError extends Error {}',
      'export const compile = absent;',
      'export const withParser = absent;',
      'export const compileFn = absent;',
      '',
    ].join('\n'),
  },
  {
    // proto/logging.ts pretty-prints on a terminal; the single-file agent writes JSON lines there too
    filter: /^pino-pretty$/,
    importer: '/proto/logging.',
    why: 'pino-pretty (and its colour, date and stream helpers)',
    contents: 'module.exports = function noPrettyPrinter() { return process.stdout; };\n',
  },
  {
    // pino's transports run in worker threads loaded from files: a SEA has no such files
    filter: /^thread-stream$/,
    importer: '/node_modules/pino/',
    why: "pino's worker-thread transports",
    contents:
      'module.exports = class ThreadStream { constructor() { throw new Error("pino transports are not part of the single-file agent"); } };\n',
  },
];

const STUB_NAMESPACE = 'kctl-sea-stub';

export function seaStubPlugin(stubs: readonly SeaStub[]): Plugin {
  return {
    name: 'kctl-sea-stubs',
    setup(b) {
      stubs.forEach((stub, index) => {
        b.onResolve({ filter: stub.filter }, (args) =>
          args.importer.includes(stub.importer)
            ? {
                path: `${stubDir(args.path, args.resolveDir)}#${index}`,
                namespace: STUB_NAMESPACE,
                pluginData: index,
              }
            : undefined,
        );
      });
      b.onLoad({ filter: /.*/, namespace: STUB_NAMESPACE }, (args) => {
        const stub = stubs[args.pluginData as number];
        if (!stub) throw new Error(`no SEA stub for ${args.path}`);
        // relative imports inside a stand-in resolve beside the module it replaces
        return { contents: stub.contents, loader: 'js', resolveDir: args.path.replace(/#\d+$/, '') };
      });
    },
  };
}

/** the folder of the module a stand-in replaces (relative specifiers), else the importer's */
function stubDir(specifier: string, resolveDir: string): string {
  return specifier.startsWith('.') ? dirname(resolve(resolveDir, specifier)) : resolveDir;
}

/**
 * First statement of the bundle: V8's optimizing compiler (TurboFan) off before any code gets hot.
 * Its machine code is 3.3 MiB of the Node binary's pages that an agent otherwise touches at start
 * and keeps resident (idle 55.6 -> 52.3 MiB, same run); the agent's work is I/O and subprocesses,
 * and facts and preflight showed no slowdown beyond the noise (docs/benchmarks.md, fourth pass).
 * Set here because NODE_OPTIONS refuses --no-opt and a SEA has no command line of its own; the code
 * cache is checked before this runs, so V8 still accepts it. `KCTL_AGENT_TURBOFAN=1` in the agent's
 * environment keeps TurboFan.
 */
export const SEA_PRELUDE =
  'if(process.env.KCTL_AGENT_TURBOFAN!=="1")require("node:v8").setFlagsFromString("--no-opt");';

export interface BundleResult {
  bytes: number;
  /** the files inside the bundle (paths relative to the repository; stand-ins as `kctl-sea-stub:…`) */
  inputs: string[];
}

/** Bundles `entry` to one CommonJS file; ESM-only constructs are shimmed for a CJS/SEA runtime. */
export async function bundleToCjs(entry: string, outfile: string): Promise<BundleResult> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // ws loads these optional native speed-ups inside try/catch; the agent works without them
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [seaStubPlugin(SEA_STUBS)],
    define: {
      // import.meta does not exist in CommonJS; inside a SEA the only file is the executable itself
      'import.meta.url': '__kctlImportMetaUrl',
      // a SEA's require() loads built-ins only and warns on anything else: tell ws not to try
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    },
    banner: {
      js: `${SEA_PRELUDE}var __kctlImportMetaUrl = require("node:url").pathToFileURL(process.execPath).href;`,
    },
    minifyWhitespace: true,
    minifySyntax: true,
    // short local names: a smaller source string and fewer identifier strings in V8's heap (−1.3 MiB
    // idle with the stubs above, docs/benchmarks.md); keepNames stays, execa's error names and pino's
    // `err.type` read class names
    minifyIdentifiers: true,
    keepNames: true,
    legalComments: 'none',
    metafile: true,
    absWorkingDir: REPO_ROOT,
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${entry}`);
  return { bytes: (await stat(outfile)).size, inputs: Object.keys(result.metafile.inputs) };
}

export async function buildSea(options: SeaBuildOptions): Promise<SeaBuildResult> {
  const entry = options.entry ?? AGENT_ENTRY;
  const name = options.name ?? AGENT_SEA_NAME;
  await mkdir(options.outDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kctl-sea-'));
  try {
    const bundle = join(work, 'main.cjs');
    const { bytes: bundleBytes } = await bundleToCjs(entry, bundle);
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
