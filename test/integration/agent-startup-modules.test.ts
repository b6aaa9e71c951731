import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './harness.js';

/**
 * Issue 13 part 7: an idle agent holds only what it needs to stay connected. The agent's entry is
 * started with a module-loading hook that records every module file it loads; the X.509 stack, the
 * pretty-printer, execa and the code of steps, checks, health and kubeadm ops must wait until a
 * command (or enrollment) needs them.
 */
const LATER = [
  '/node_modules/@peculiar/',
  '/node_modules/reflect-metadata/',
  '/node_modules/pino-pretty/',
  '/node_modules/execa/',
  '/node_modules/diff/',
  '/agent/checks/',
  '/agent/health/',
  '/agent/ops/kubeadm-ops.',
  '/agent/ops/host-ops.',
  '/agent/ops/preflight-ops.',
  '/agent/steps/converge.',
  '/agent/steps/index.',
  '/agent/steps/file.',
  '/proto/ops.',
  '/proto/admin-api.',
  // the bundle manifest's schemas (and the image and check schemas they pull in): first bundle request
  '/proto/bundle.',
  '/proto/bundle-images.',
];

function hookImport(out: string): string {
  const hooks = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(${JSON.stringify(out)}, url + '\\n'); return next(url, context); }`;
  const register = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  return `data:text/javascript,${encodeURIComponent(register)}`;
}

describe('agent start-up', () => {
  it(
    'loads no X.509 stack, pretty-printer, execa, steps, checks or health code',
    { timeout: 30_000 },
    async () => {
      const dir = await tempDir('startup-modules');
      const out = join(dir, 'modules.txt');
      try {
        // the whole static import graph loads before main() reads its (missing) config and exits 2
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--import',
            hookImport(out),
            'agent/main.ts',
            '--config',
            join(dir, 'none.yaml'),
          ],
          { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
        expect(code, stderr).toBe(2);
        const loaded = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
        // the hook saw the agent's own modules, so an empty "too early" list means something
        expect(loaded.some((u) => u.endsWith('/agent/agent.ts'))).toBe(true);
        expect(loaded.some((u) => u.endsWith('/agent/connection.ts'))).toBe(true);
        expect(loaded.filter((u) => LATER.some((l) => u.includes(l)))).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
