import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SPEC_BYTES, loadClusterSpecFile } from './load.js';

describe('loading cluster.yaml from disk', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-spec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses the full example', async () => {
    const r = await loadClusterSpecFile(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'));
    expect(r.ok).toBe(true);
  });

  it('names the file in YAML errors', async () => {
    const path = join(dir, 'broken.yaml');
    await writeFile(path, 'name: [\n');
    const r = await loadClusterSpecFile(path);
    expect(!r.ok && r.errors[0]?.path.startsWith(`${path}:`)).toBe(true);
  });

  it.each([
    ['a missing file', 'absent.yaml', undefined, /cannot be read \(ENOENT\)/],
    ['an oversized file', 'huge.yaml', 'x'.repeat(MAX_SPEC_BYTES + 1), /limit/],
  ])('reports %s as an error, not a throw', async (_what, name, content, message) => {
    const path = join(dir, name);
    if (content !== undefined) await writeFile(path, content);
    const r = await loadClusterSpecFile(path);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual([{ path, message: expect.stringMatching(message) }]);
  });
});
