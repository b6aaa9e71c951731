/**
 * Regenerates the golden renders: `npx tsx scripts/update-golden.ts`. Files no case produces any
 * more are removed. Review the diff before committing.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { GOLDEN_DIR, goldenFiles } from '../test/fixtures/golden/cases.js';

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(GOLDEN_DIR, join(e.parentPath, e.name)));
}

const files = goldenFiles();
const wanted = new Set(files.map((f) => f.path));
for (const f of files) {
  const path = join(GOLDEN_DIR, f.path);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, f.content);
}
for (const path of await listFiles(GOLDEN_DIR)) {
  if (path !== 'cases.ts' && !wanted.has(path)) await rm(join(GOLDEN_DIR, path));
}
process.stdout.write(`${files.length} golden files written under ${relative(process.cwd(), GOLDEN_DIR)}\n`);
