import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';

/**
 * Builds the kubeadm, kubelet and kubectl STAND-INS into single executable files. The agent runs
 * programs with PATH=/usr/sbin:/usr/bin:/sbin:/bin or a test bin directory, where `/usr/bin/env node`
 * may not find node, so the shebang names this node by its absolute path. Builds are cached by a hash
 * of the sources, the lockfile and the node binary, so repeated test runs only copy files.
 */

export const STANDIN_TOOLS = ['kubeadm', 'kubelet', 'kubectl'] as const;
export type StandinTool = (typeof STANDIN_TOOLS)[number];

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const CACHE = join(REPO, 'node_modules', '.cache', 'kctl-standins');

async function sourceHash(): Promise<string> {
  const h = createHash('sha256');
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

async function buildInto(dir: string): Promise<void> {
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
          js: `#!${process.execPath}\n// ${tool}: kctl STAND-IN built from test/standins/${tool}.ts; not the real ${tool}`,
        },
        legalComments: 'none',
        logLevel: 'silent',
      }),
    ),
  );
  // an extensionless file inside a "type": "module" package would be read as ESM
  await writeFile(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
}

/** Builds (or reuses) the stand-ins and puts `kubeadm`, `kubelet` and `kubectl` (mode 0755) into outDir. */
export async function buildStandins(outDir: string): Promise<void> {
  const hash = await sourceHash();
  const cached = join(CACHE, hash);
  if (!(await isBuilt(cached))) {
    const tmp = join(CACHE, `.${hash}.${process.pid}.${randomBytes(4).toString('hex')}`);
    await buildInto(tmp);
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
