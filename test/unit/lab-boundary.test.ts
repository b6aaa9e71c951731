import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Each relative import of a file, resolved to a repository path ("lab/hosts.js"). */
async function imports(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] ?? '');
  return specs.map((s) => relative(repo, resolve(dirname(file), s)));
}

describe('the lab is a development tool of its own (issue 15, part 5)', () => {
  it('nothing in controller/ imports lab/, so the controller build ships no nspawn code', async () => {
    const offenders: string[] = [];
    for (const f of await tsFiles(join(repo, 'controller')))
      for (const target of await imports(f))
        if (target.startsWith('lab/')) offenders.push(`${relative(repo, f)} -> ${target}`);
    expect(offenders).toEqual([]);
  });

  it('lab/ imports nothing of ours but proto/', async () => {
    const offenders: string[] = [];
    for (const f of await tsFiles(join(repo, 'lab')))
      for (const target of await imports(f))
        if (!target.startsWith('lab/') && !target.startsWith('proto/'))
          offenders.push(`${relative(repo, f)} -> ${target}`);
    expect(offenders).toEqual([]);
  });
});
