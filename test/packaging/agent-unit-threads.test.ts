import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Issue 13 part 7: the agent's unit gives Node one V8 worker thread (docs/benchmarks.md, "Agent
 * memory"). The single-file agent has no execArgv, so the flag goes through NODE_OPTIONS, which
 * Node only accepts for flags on its allowed list: check that these are, and that the pool size takes
 * effect. systemd unquotes the value, as the test does.
 */
const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

async function nodeOptionsOfUnit(): Promise<string[]> {
  const text = await readFile(join(REPO, 'packaging/systemd/kctl-agent.service'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('Environment=NODE_OPTIONS='))
    .map((l) => l.slice('Environment=NODE_OPTIONS='.length).replace(/^"(.*)"$/, '$1'));
}

async function threadsWith(nodeOptions: string | undefined): Promise<number> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  const { stdout } = await run(
    process.execPath,
    [
      '-e',
      'console.log(/^Threads:\\s+(\\d+)/m.exec(require("fs").readFileSync("/proc/self/status","utf8"))[1])',
    ],
    { env },
  );
  return Number(stdout.trim());
}

describe('kctl-agent.service NODE_OPTIONS', () => {
  it('sets --v8-pool-size=1 once, and not --jitless (it halves the speed of preflight and facts)', async () => {
    expect(await nodeOptionsOfUnit()).toEqual(['--v8-pool-size=1']);
  });

  it('is accepted in NODE_OPTIONS and leaves three fewer threads than the default pool of four', async () => {
    // (a flag Node does not allow there makes node exit 9 before running anything)
    const [options] = await nodeOptionsOfUnit();
    const [withOptions, without] = await Promise.all([threadsWith(options), threadsWith(undefined)]);
    expect(without - withOptions).toBe(3);
  });
});
