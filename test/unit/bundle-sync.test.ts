import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BUNDLE_API_VERSION, type BundleManifest } from '../../proto/bundle.js';
import type { Change } from '../../proto/results.js';
import { createCa, type CaKeyPair } from '../../controller/pki.js';
import { signManifest } from '../../controller/bundle/sign.js';
import { manifestText } from '../../controller/bundle/manifest.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { bundleSyncStep, BUNDLE_SYNC_STEP_ID } from '../../agent/steps/bundle-sync.js';
import { stepsForHostSpec } from '../../agent/steps/index.js';
import type { BundleSource } from '../../agent/steps/bundle-fetch.js';
import { HostSpec } from '../../proto/host-spec.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** An in-memory controller: files, a manifest of them signed by `ca`, and a log of downloads. */
function fakeSource(ca: CaKeyPair, files: Record<string, Buffer>, pinned = ca) {
  const served = new Map(Object.entries(files));
  const downloads: string[] = [];
  const build = (): string => {
    const manifest: BundleManifest = {
      apiVersion: BUNDLE_API_VERSION,
      kind: 'BundleManifest',
      createdAt: '2026-12-04T22:00:00.000Z',
      files: [...served.entries()]
        .map(([path, b]) => ({ path, sha256: sha(b), size: b.length }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    };
    return manifestText(manifest);
  };
  let text = build();
  const source: BundleSource = {
    caPem: () => pinned.certPem,
    manifest: () => Promise.resolve({ manifest: text, signature: signManifest(text, ca.keyPem, ca.certPem) }),
    file(path) {
      downloads.push(path);
      const b = served.get(path);
      if (!b) return Promise.reject(new Error(`no ${path}`));
      // in chunks, as a response body arrives
      const chunks: Buffer[] = [];
      for (let i = 0; i < b.length; i += 64 * 1024) chunks.push(b.subarray(i, i + 64 * 1024));
      return Promise.resolve(Readable.from(chunks));
    },
  };
  return {
    source,
    downloads,
    /** the controller side changes: a new manifest is made from the files */
    publish(next: Record<string, Buffer>) {
      served.clear();
      for (const [k, v] of Object.entries(next)) served.set(k, v);
      text = build();
    },
    /** the bytes served change but the signed manifest does not (tampering on the controller side) */
    tamper(path: string, bytes: Buffer) {
      served.set(path, bytes);
    },
  };
}

describe('bundle-sync step', () => {
  let ca: CaKeyPair;
  let th: TempHost;
  const keyring = Buffer.from([0x98, 0x33, 0x04, 0xff, 0x00, 0x01]); // binary, not UTF-8
  const deb = Buffer.alloc(300_000, 1);
  const files = (): Record<string, Buffer> => ({
    'apt/kctl-bundle.gpg': keyring,
    'apt/Packages': Buffer.from('Package: a\n'),
    'apt/pool/a_1.0_all.deb': deb,
  });

  beforeAll(async () => {
    ca = await createCa({ commonName: 'kctl controller CA' });
  });
  afterEach(async () => {
    await th.cleanup();
  });

  it('plans every file and the keyring, applies them, and a second run finds nothing to do', async () => {
    th = await tempHost();
    const fake = fakeSource(ca, files());
    const step = bundleSyncStep(fake.source);
    const plan = await planSteps(th.host, [step]);
    const changes = plan[0]!.changes;
    expect(changes.filter((c) => c.kind === 'bundle-file').map((c) => [c.path, c.action, c.reason])).toEqual([
      ['/var/lib/kctl/bundle/apt/Packages', 'download', 'missing'],
      ['/var/lib/kctl/bundle/apt/kctl-bundle.gpg', 'download', 'missing'],
      ['/var/lib/kctl/bundle/apt/pool/a_1.0_all.deb', 'download', 'missing'],
    ]);
    expect(changes.find((c) => c.kind === 'file')).toMatchObject({
      path: '/etc/apt/keyrings/kctl-bundle.gpg',
      previousSha256: null,
      nextSha256: sha(keyring),
    });
    expect(fake.downloads).toEqual([]); // plan downloads nothing

    const [report] = await applySteps(th.host, [step]);
    expect(report?.status, JSON.stringify(report?.error)).toBe('applied');
    expect(await readFile(join(th.root, 'var/lib/kctl/bundle/apt/pool/a_1.0_all.deb'))).toEqual(deb);
    expect(await readFile(join(th.root, 'etc/apt/keyrings/kctl-bundle.gpg'))).toEqual(keyring);
    expect((await stat(join(th.root, 'etc/apt/keyrings/kctl-bundle.gpg'))).mode & 0o777).toBe(0o644);
    expect(fake.downloads.length).toBe(3);

    fake.downloads.length = 0;
    expect((await planSteps(th.host, [step]))[0]!.changes).toEqual([]);
    const [again] = await applySteps(th.host, [step]);
    expect(again?.status).toBe('unchanged');
    expect(fake.downloads).toEqual([]);
  });

  it('downloads only what changed and removes files the manifest no longer lists', async () => {
    th = await tempHost();
    const fake = fakeSource(ca, files());
    const step = bundleSyncStep(fake.source);
    await applySteps(th.host, [step]);
    const deb2 = Buffer.alloc(1000, 2);
    fake.publish({
      'apt/kctl-bundle.gpg': keyring,
      'apt/Packages': Buffer.from('Package: b\n'),
      'apt/pool/b_2.0_all.deb': deb2,
    });
    fake.downloads.length = 0;
    const changes = (await planSteps(th.host, [step]))[0]!.changes as Array<
      Extract<Change, { kind: 'bundle-file' }>
    >;
    expect(changes.map((c) => [c.path, c.action, c.reason])).toEqual([
      ['/var/lib/kctl/bundle/apt/Packages', 'download', 'differs'],
      ['/var/lib/kctl/bundle/apt/pool/b_2.0_all.deb', 'download', 'missing'],
      ['/var/lib/kctl/bundle/apt/pool/a_1.0_all.deb', 'remove', 'not in the manifest'],
    ]);
    expect((await applySteps(th.host, [step]))[0]?.status).toBe('applied');
    expect(fake.downloads.sort()).toEqual(['apt/Packages', 'apt/pool/b_2.0_all.deb']);
    expect(await readdir(join(th.root, 'var/lib/kctl/bundle/apt/pool'))).toEqual(['b_2.0_all.deb']);
  });

  it('refuses a tampered download, names the file and keeps the previous good copy', async () => {
    th = await tempHost();
    const fake = fakeSource(ca, files());
    const step = bundleSyncStep(fake.source);
    await applySteps(th.host, [step]);
    // a new, properly signed version is published, but what is served is not what was signed
    const newDeb = Buffer.alloc(deb.length, 3);
    fake.publish({ ...files(), 'apt/pool/a_1.0_all.deb': newDeb });
    fake.tamper('apt/pool/a_1.0_all.deb', Buffer.alloc(deb.length, 4));
    const [report] = await applySteps(th.host, [step]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toMatch(
      /"\/var\/lib\/kctl\/bundle\/apt\/pool\/a_1.0_all.deb": SHA-256 does not match the signed manifest/,
    );
    expect(await readFile(join(th.root, 'var/lib/kctl/bundle/apt/pool/a_1.0_all.deb'))).toEqual(deb);
    // no temp file is left behind either
    expect(await readdir(join(th.root, 'var/lib/kctl/bundle/apt/pool'))).toEqual(['a_1.0_all.deb']);
    // a longer body than the manifest's size is cut off and refused too
    fake.tamper('apt/pool/a_1.0_all.deb', Buffer.concat([newDeb, Buffer.from('x')]));
    const [longer] = await applySteps(th.host, [step]);
    expect(longer?.error?.message).toMatch(/received more than 300000 bytes/);
  });

  it('refuses a manifest signed by another CA and changes nothing', async () => {
    th = await tempHost();
    const other = await createCa({ commonName: 'someone else' });
    const fake = fakeSource(other, files(), ca);
    const [report] = await applySteps(th.host, [bundleSyncStep(fake.source)]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toMatch(
      /bad signature: it does not verify against the pinned controller CA/,
    );
    expect(fake.downloads).toEqual([]);
    await expect(stat(join(th.root, 'var/lib/kctl/bundle'))).rejects.toThrow(/ENOENT/);
  });

  it('comes before the packages step when the host spec says packages come from the bundle', async () => {
    th = await tempHost();
    const spec = HostSpec.parse({
      hostName: 'h1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      packagesFrom: 'bundle',
      packages: [{ name: 'containerd', hold: false }],
    });
    const steps = stepsForHostSpec(spec, { bundle: fakeSource(ca, files()).source });
    const ids = steps.map((s) => s.id);
    expect(ids.indexOf(BUNDLE_SYNC_STEP_ID)).toBeLessThan(ids.indexOf('packages'));
    expect(steps.find((s) => s.id === 'packages')?.dependsOn).toContain(BUNDLE_SYNC_STEP_ID);
    const { packagesFrom: _omit, ...plain } = spec;
    expect(stepsForHostSpec(plain).map((s) => s.id)).not.toContain(BUNDLE_SYNC_STEP_ID);
  });
});
