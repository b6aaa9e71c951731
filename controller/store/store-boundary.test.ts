import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const controllerDir = fileURLToPath(new URL('..', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Files that touch a database themselves: the store, and the backup, which copies the SQLite file. */
const ALLOWED = /^(store|backup)\//;

describe('every table is behind the Store (issue 16)', () => {
  it('no controller module outside controller/store/ opens a database, uses store.database or constructs a store, except main.ts and the backup', async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles(controllerDir)) {
      const rel = relative(controllerDir, file);
      if (ALLOWED.test(rel)) continue;
      const text = await readFile(file, 'utf8');
      if (/from 'better-sqlite3'|from 'pg'/.test(text)) offenders.push(`${rel}: imports a database driver`);
      if (/\.database\b/.test(text)) offenders.push(`${rel}: uses .database`);
      if (rel !== 'main.ts' && /new (Sqlite|Pg)Store\(/.test(text))
        offenders.push(`${rel}: constructs a store`);
    }
    expect(offenders).toEqual([]);
  });
});
