import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

/**
 * eslint.config.js keeps every side effect of the agent in agent/host/ (DESIGN.md, "Host"). These
 * cases lint small sources as if they sat in the tree, so the rule cannot silently vanish: a case
 * that should be refused fails here if the config stops refusing it. Type-aware rules are off for
 * the virtual files (they are not in the TypeScript project); the boundary rules need no types.
 */
const eslint = new ESLint({
  cwd: fileURLToPath(new URL('../..', import.meta.url)),
  overrideConfig: tseslint.configs.disableTypeChecked,
});

async function boundaryMessages(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const fatal = result?.messages.filter((m) => m.fatal) ?? [];
  if (fatal.length > 0) throw new Error(`cannot lint ${filePath}: ${fatal[0]?.message}`);
  return (result?.messages ?? [])
    .filter((m) => /restricted/.test(m.ruleId ?? ''))
    .map((m) => `${m.ruleId}: ${m.message}`);
}

const OUTSIDE = 'agent/steps/lint-fixture.ts';

describe('agent code outside agent/host/ may not reach the world itself', () => {
  it.each([
    ['an HTTPS client', "import { request } from 'node:https';\nexport const r = request;\n"],
    ['a plain HTTP client', "import { get } from 'node:http';\nexport const g = get;\n"],
    ['raw TLS', "import { connect } from 'node:tls';\nexport const c = connect;\n"],
    ['a socket', "import { createConnection } from 'node:net';\nexport const c = createConnection;\n"],
    ['the resolver', "import { lookup } from 'node:dns/promises';\nexport const l = lookup;\n"],
    ['node:os', "import { networkInterfaces } from 'node:os';\nexport const n = networkInterfaces;\n"],
    ['the environment', 'export const proxy = process.env.HTTPS_PROXY;\n'],
    ['the environment by import', "import { env } from 'node:process';\nexport const e = env;\n"],
    ['the global fetch', "export const f = (): Promise<Response> => fetch('https://example.com/');\n"],
    ['a dynamic import', "export const h = import('node:https');\n"],
    ['files', "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n"],
  ])('refuses %s', async (_what, code) => {
    expect(await boundaryMessages(OUTSIDE, code)).toEqual([expect.stringMatching(/Only agent\/host\//)]);
  });

  it.each([
    [
      'a type from node:http',
      "import type { IncomingMessage } from 'node:http';\nexport type M = IncomingMessage;\n",
    ],
    [
      'the pure address helpers of node:net',
      "import { isIP, BlockList } from 'node:net';\nexport const a = [isIP, BlockList];\n",
    ],
    ['the Net port', "import type { Net } from '../host/net.js';\nexport type N = Net;\n"],
  ])('allows %s', async (_what, code) => {
    expect(await boundaryMessages(OUTSIDE, code)).toEqual([]);
  });

  it('still refuses a shell there (S15), beside the boundary rules', async () => {
    expect(await boundaryMessages(OUTSIDE, 'export const o = { shell: true };\n')).toEqual([
      'no-restricted-syntax: No shell: argv arrays only (S15).',
    ]);
  });

  it('lets the Host layer itself use node:https, node:os and process.env', async () => {
    const code =
      "import { request } from 'node:https';\nimport { arch } from 'node:os';\n" +
      'export const all = [request, arch, process.env.PATH];\n';
    expect(await boundaryMessages('agent/host/lint-fixture.ts', code)).toEqual([]);
  });
});
