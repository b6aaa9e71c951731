import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AGENT_ENTRY,
  SEA_PRELUDE,
  SEA_STUBS,
  bundleToCjs,
  type BundleResult,
} from '../../packaging/sea/build.js';
import { tempDir } from './system-tools.js';

/**
 * Issue 13 part 7, fourth pass: the single-file agent's bundle is held twice at run time (heap string
 * and blob pages), so code an idle daemon never runs is left out. These checks run esbuild only
 * (a second or two), not the SEA build.
 */
let work: { dir: string; remove: () => Promise<void> };
let bundle: BundleResult;
let outfile: string;

beforeAll(async () => {
  work = await tempDir('kctl-sea-bundle-');
  outfile = join(work.dir, 'main.cjs');
  bundle = await bundleToCjs(AGENT_ENTRY, outfile);
}, 60_000);
afterAll(async () => {
  await work.remove();
});

describe("the single-file agent's bundle", () => {
  it.each([
    ["zod's locales other than English", /node_modules\/zod\/v4\/locales\/(?!en\.js$)/],
    ["zod's fromJSONSchema", /node_modules\/zod\/v4\/classic\/from-json-schema\./],
    ["zod's schema compiler", /node_modules\/zod\/v4\/core\/compile\./],
    ['pino-pretty', /node_modules\/pino-pretty\//],
    ["pino's worker-thread transports", /node_modules\/thread-stream\//],
  ])('leaves out %s', (_what, path) => {
    expect(bundle.inputs.filter((i) => path.test(i))).toEqual([]);
  });

  it('uses every stand-in (a stub that no longer matches an import is noticed)', () => {
    const used = new Set(
      bundle.inputs.filter((i) => i.startsWith('kctl-sea-stub:')).map((i) => Number(i.split('#').pop())),
    );
    expect([...used].sort()).toEqual(SEA_STUBS.map((_s, i) => i));
  });

  it("keeps what the agent runs: zod's English messages, yaml for agent.yaml, execa, ws", () => {
    for (const kept of [
      'node_modules/zod/v4/locales/en.js',
      'node_modules/yaml/',
      'node_modules/execa/',
      'node_modules/ws/',
    ]) {
      expect(
        bundle.inputs.some((i) => i.startsWith(kept)),
        kept,
      ).toBe(true);
    }
  });

  it('turns TurboFan off before any of its code runs, unless KCTL_AGENT_TURBOFAN=1', async () => {
    const text = (await readFile(outfile, 'utf8')).replace(/^#!.*\n/, '');
    expect(text.startsWith(SEA_PRELUDE)).toBe(true);
    expect(SEA_PRELUDE).toContain('setFlagsFromString("--no-opt")');
  });

  it.each([
    ['leaves a hot function unoptimized', {}, 'false'],
    ['lets TurboFan optimize it with KCTL_AGENT_TURBOFAN=1', { KCTL_AGENT_TURBOFAN: '1' }, 'true'],
  ])('the prelude %s', async (_name, env, optimized) => {
    // asks V8 to optimize `add` on its next call (deterministic, no hot loop); status bit 4 (16):
    // the function runs TurboFan code
    const hot = `function add(a,b){return a+b}%PrepareFunctionForOptimization(add);add(1,2);add(3,4);
%OptimizeFunctionOnNextCall(add);add(5,6);process.stdout.write(String((%GetOptimizationStatus(add)&16)!==0))`;
    const r = await execa(process.execPath, ['--allow-natives-syntax', '-e', `${SEA_PRELUDE}${hot}`], {
      env,
    });
    expect(r.stdout).toBe(optimized);
  });

  it('is under 900 KB (1.6 MB before the fourth pass)', () => {
    expect(bundle.bytes).toBeLessThan(900_000);
  });

  it("still has zod's English messages (run as plain CommonJS)", async () => {
    const config = join(work.dir, 'agent.yaml');
    const pin = `sha256:${'a'.repeat(64)}`;
    await writeFile(config, `controller: https://198.18.0.1:7443\ncaPin: ${pin}\nheartbeatIntervalMs: 5\n`);
    const r = await execa(process.execPath, [outfile, '--config', config], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(config);
    expect(r.stderr).toContain('heartbeatIntervalMs: Too small: expected number to be >=100');
  });

  // util-linux `script` gives the agent a terminal: there proto/logging.ts would pretty-print
  it.skipIf(!existsSync('/usr/bin/script'))('writes JSON log lines on a terminal too', async () => {
    const config = join(work.dir, 'no-token.yaml');
    const pin = `sha256:${'a'.repeat(64)}`;
    await writeFile(config, `controller: https://127.0.0.1:1\ncaPin: ${pin}\nstateDir: ${work.dir}/state\n`);
    const r = await execa(
      'script',
      ['-qec', `${process.execPath} ${outfile} --config ${config}`, '/dev/null'],
      {
        reject: false,
        timeout: 20_000,
      },
    );
    const first = r.stdout.split(/\r?\n/)[0] ?? '';
    expect(JSON.parse(first)).toMatchObject({ level: 60, name: 'kctl-agent', msg: 'agent cannot start' });
  });
});
