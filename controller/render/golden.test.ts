import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { SUPPORTED_MINORS } from '../../proto/cluster-spec.js';
import { GOLDEN_DIR, SECRETS, goldenFiles } from '../../test/fixtures/golden/cases.js';

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

  it('covers 1.29, 1.30, 1.31 and the newest supported minor, both containerd lines, every node kind', () => {
    const paths = files.map((f) => f.path);
    for (const v of ['v1.29', 'v1.30', 'v1.31', `v1.${SUPPORTED_MINORS.max}`]) {
      expect(paths).toEqual(
        expect.arrayContaining([
          `${v}/kubeadm-init.yaml`,
          `${v}/kubeadm-join-control-plane.yaml`,
          `${v}/kubeadm-join-worker.yaml`,
          `${v}/containerd/config.toml`,
        ]),
      );
    }
    expect(paths).toEqual(
      expect.arrayContaining([
        'containerd/1.x/config.toml',
        'containerd/2.x/config.toml',
        'v1.29/kube-vip-first-control-plane.yaml',
        'v1.29/kube-vip-other-control-plane.yaml',
      ]),
    );
  });

  it.each(files.filter((f) => f.path.endsWith('.yaml')).map((f) => [f.path, f.content] as const))(
    '%s parses back as YAML without errors or warnings',
    (_path, content) => {
      for (const doc of parseAllDocuments(content)) {
        expect(doc.errors).toEqual([]);
        expect(doc.warnings).toEqual([]);
      }
    },
  );

  it('uses only the obviously fake secrets', () => {
    const all = files.map((f) => f.content).join('\n');
    expect(all).toContain(SECRETS.token);
    expect(all).toContain(SECRETS.certificateKey);
    const keys = all.match(/certificateKey: \S+/g) ?? [];
    expect(new Set(keys)).toEqual(new Set([`certificateKey: ${SECRETS.certificateKey}`]));
    const tokens = all.match(/token: \S+/g) ?? [];
    expect(new Set(tokens)).toEqual(new Set([`token: ${SECRETS.token}`]));
  });
});
