import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_MINORS } from '../../proto/cluster-spec.js';
import { GOLDEN_DIR, goldenFiles } from '../../test/fixtures/golden/cases.js';

const files = goldenFiles();

describe('golden renders (regenerate with `npx tsx scripts/update-golden.ts`)', () => {
  it.each(files.map((f) => [f.path, f.content] as const))('%s matches byte for byte', (path, content) => {
    expect(content).toBe(readFileSync(join(GOLDEN_DIR, path), 'utf8'));
  });

  it('has no golden file that no case renders any more', () => {
    const onDisk = readdirSync(GOLDEN_DIR, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(GOLDEN_DIR, join(e.parentPath, e.name)))
      .filter((p) => p !== 'cases.ts')
      .sort();
    expect(onDisk).toEqual(files.map((f) => f.path).sort());
  });

  it('covers 1.29, 1.30, 1.31 and the newest supported minor, and both containerd lines', () => {
    const dirs = new Set(files.map((f) => f.path.split('/')[0]));
    expect([...dirs]).toEqual(
      expect.arrayContaining(['v1.29', 'v1.30', 'v1.31', `v1.${SUPPORTED_MINORS.max}`, 'containerd']),
    );
    expect(files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['containerd/1.7/config.toml', 'containerd/2.x/config.toml']),
    );
  });
});
