import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleManifest } from '../../proto/bundle.js';
import { bundleImagesFor, imageArchiveProblems, parseCtrImages } from '../../proto/bundle-images.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { writeOciArchiveFixture } from '../../test/fixtures/oci-archive.js';
import { parseClusterSpec } from '../spec/parse.js';
import {
  addBundleImages,
  archivePathFor,
  bundleImageNeeds,
  checkBundleCarriesImages,
  imageSource,
  type CopyImage,
} from './images.js';
import { readManifest, verifyBundle, writeManifest } from './manifest.js';
import { readOciArchive } from './oci-archive.js';

const REPO = 'registry.lab:5000/k8s';

function spec(extra = ''): ClusterSpec {
  const text = `${readFileSync('test/fixtures/cluster/minimal.yaml', 'utf8').replace(
    'kubernetesVersion: v1.35.0',
    'kubernetesVersion: v1.31.2',
  )}imageRepository: ${REPO}\n${extra}`;
  const r = parseClusterSpec(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const digestOf = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kctl-bundle-images-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A registry stand-in: every copy writes an archive named as asked, its digest derived from the ref. */
function fakeRegistry(): { copy: CopyImage; copied: Array<[string, string]> } {
  const copied: Array<[string, string]> = [];
  return {
    copied,
    copy: async (source, archive, ref) => {
      copied.push([source, ref]);
      await writeOciArchiveFixture(archive, { ref, digest: digestOf(ref) });
    },
  };
}

describe('the images a bundle carries', () => {
  it('are every image of both roles, following imageRepository, each with the roles that run it', () => {
    const needs = bundleImageNeeds(spec());
    expect(needs.get(`${REPO}/kube-apiserver:v1.31.2`)).toEqual(['control-plane']);
    expect(needs.get(`${REPO}/etcd:3.5.15-0`)).toEqual(['control-plane']);
    expect(needs.get(`${REPO}/kube-proxy:v1.31.2`)).toEqual(['control-plane', 'worker']);
    expect(needs.get(`${REPO}/pause:3.10`)).toEqual(['control-plane', 'worker']);
    expect(needs.get(`${REPO}/coredns:v1.11.3`)).toEqual(['control-plane', 'worker']);
    // every reference is below the private repository, kctl's own images included
    expect([...needs.keys()].every((r) => r.startsWith(`${REPO}/`))).toBe(true);
    expect([...needs.keys()]).toEqual([...needs.keys()].sort());
  });

  it('include kube-vip for control planes only when it holds the VIP, and an override as written', () => {
    const vip = bundleImageNeeds(
      spec(
        'ha: {mode: kube-vip, interface: eth0}\nimages:\n  overrides:\n    kube-vip: other.example/vip/kube-vip:v9.9.9\n',
      ),
    );
    expect(vip.get('other.example/vip/kube-vip:v9.9.9')).toEqual(['control-plane']);
    expect([...bundleImageNeeds(spec()).keys()].some((r) => r.includes('kube-vip'))).toBe(false);
  });

  it.each([
    ['registry.k8s.io/pause:3.10', undefined, 'registry.k8s.io/pause:3.10'],
    ['registry.k8s.io/pause:3.10', 'mirror.lab:5000', 'mirror.lab:5000/pause:3.10'],
    [`${REPO}/etcd:3.5.15-0`, 'mirror.lab:5000/cache/', 'mirror.lab:5000/cache/k8s/etcd:3.5.15-0'],
    ['calico/node:v3.28.2', 'mirror.lab', 'mirror.lab/calico/node:v3.28.2'],
  ])('%s is copied from %s as %s', (ref, registry, source) => {
    expect(imageSource(ref, registry)).toBe(source);
  });

  it('names archives by reference, one file directly below images/', () => {
    expect(archivePathFor('registry.lab:5000/k8s/kube-apiserver:v1.31.2')).toBe(
      'images/registry.lab_5000_k8s_kube-apiserver_v1.31.2.tar',
    );
  });
});

describe('kctl bundle build --images', () => {
  it('copies every image from the registry and lists each in the manifest with its digest and archive sha256', async () => {
    const dir = await tempDir();
    const reg = fakeRegistry();
    const images = await addBundleImages(dir, {
      spec: spec(),
      registry: 'mirror.lab:5000',
      copyImage: reg.copy,
    });
    const manifest = await writeManifest(dir, new Date('2026-12-07T17:00:00.000Z'), images);
    const needs = bundleImageNeeds(spec());
    expect(images.map((i) => i.ref)).toEqual([...needs.keys()]);
    expect(reg.copied[0]).toEqual([
      `mirror.lab:5000/k8s/${reg.copied[0]?.[1].slice(REPO.length + 1)}`,
      reg.copied[0]?.[1],
    ]);
    for (const i of images) {
      expect(i.digest).toBe(digestOf(i.ref));
      expect(i.roles).toEqual(needs.get(i.ref));
      const bytes = await readFile(join(dir, i.archive));
      expect(i.archiveSha256).toBe(sha(bytes));
      expect(manifest.files).toContainEqual({ path: i.archive, sha256: sha(bytes), size: bytes.length });
    }
    // what is written is what is read back and signed: the schema accepts it
    const { manifest: read } = await readManifest(dir);
    expect(BundleManifest.parse(read).images).toEqual(images);
    expect(bundleImagesFor(read.images, 'worker').map((i) => i.ref)).toEqual(
      [...needs.entries()].filter(([, r]) => r.includes('worker')).map(([ref]) => ref),
    );
    expect((await verifyBundle(dir)).problems).toEqual([]);
  });

  it('takes an image from --image-archive, copies only the rest, and refuses an archive the cluster does not use', async () => {
    const dir = await tempDir();
    const given = join(await tempDir(), 'pause.tar');
    await writeOciArchiveFixture(given, { ref: `${REPO}/pause:3.10`, digest: digestOf('local pause') });
    const reg = fakeRegistry();
    const images = await addBundleImages(dir, { spec: spec(), archives: [given], copyImage: reg.copy });
    expect(images.find((i) => i.ref === `${REPO}/pause:3.10`)?.digest).toBe(digestOf('local pause'));
    expect(reg.copied.map(([, ref]) => ref)).not.toContain(`${REPO}/pause:3.10`);
    expect(reg.copied).toHaveLength(images.length - 1);

    const stray = join(await tempDir(), 'stray.tar');
    await writeOciArchiveFixture(stray, { ref: 'docker.io/library/busybox:1', digest: digestOf('x') });
    await expect(
      addBundleImages(dir, { spec: spec(), archives: [stray], copyImage: reg.copy }),
    ).rejects.toThrow(/holds docker\.io\/library\/busybox:1, which cluster\.yaml does not use/);
  });

  it('a rebuild keeps no archive of an image the cluster no longer uses', async () => {
    const dir = await tempDir();
    const reg = fakeRegistry();
    await addBundleImages(dir, {
      spec: spec('ha: {mode: kube-vip, interface: eth0}\n'),
      copyImage: reg.copy,
    });
    const images = await addBundleImages(dir, { spec: spec(), copyImage: reg.copy });
    expect((await readdir(join(dir, 'images'))).sort()).toEqual(
      images.map((i) => i.archive.slice('images/'.length)).sort(),
    );
  });

  it('verify names an image archive whose bytes no longer match', async () => {
    const dir = await tempDir();
    const images = await addBundleImages(dir, { spec: spec(), copyImage: fakeRegistry().copy });
    await writeManifest(dir, undefined, images);
    const [first] = images;
    await writeFile(join(dir, first!.archive), 'not the image');
    const { problems } = await verifyBundle(dir);
    expect(problems.map((p) => [p.path, p.problem])).toEqual([[first!.archive, 'size']]);
  });

  it('the manifest schema takes images and refuses the same image twice; an archive must be a listed file', () => {
    const images = [
      {
        ref: `${REPO}/pause:3.10`,
        digest: digestOf('p'),
        archive: 'images/p.tar',
        archiveSha256: 'a'.repeat(64),
        roles: ['worker' as const],
      },
    ];
    const base = {
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'BundleManifest',
      createdAt: new Date().toISOString(),
    };
    expect(BundleManifest.safeParse({ ...base, files: [], images }).success).toBe(true);
    expect(BundleManifest.safeParse({ ...base, files: [], images: [...images, ...images] }).success).toBe(
      false,
    );
    expect(imageArchiveProblems(images, [])).toEqual([
      `image ${REPO}/pause:3.10: its archive "images/p.tar" is not a listed file`,
    ]);
    expect(imageArchiveProblems(images, [{ path: 'images/p.tar', sha256: 'b'.repeat(64) }])[0]).toMatch(
      /has sha256 b+ in files, a+ in images/,
    );
    expect(imageArchiveProblems(images, [{ path: 'images/p.tar', sha256: 'a'.repeat(64) }])).toEqual([]);
  });
});

describe('planning against a bundle', () => {
  it('passes a bundle without images, and one with every image; names what a stale bundle lacks', () => {
    const paths = ['apt/Packages', ...[...bundleImageNeeds(spec()).keys()].map(archivePathFor)];
    expect(() => checkBundleCarriesImages(spec(), ['apt/Packages'])).not.toThrow();
    expect(() => checkBundleCarriesImages(spec(), paths)).not.toThrow();
    const upgraded = { ...spec(), kubernetesVersion: 'v1.32.4' };
    expect(() => checkBundleCarriesImages(upgraded, paths)).toThrow(
      /the offline bundle carries images but not registry\.lab:5000\/k8s\/etcd:3\.5\.16-0, .*kube-apiserver:v1\.32\.4/,
    );
  });
});

describe('reading an OCI archive', () => {
  it('finds the one image name and digest in index.json, also behind a PAX path header', async () => {
    const d = await tempDir();
    await writeOciArchiveFixture(join(d, 'a.tar'), { ref: `${REPO}/etcd:3.5.15-0`, digest: digestOf('e') });
    await writeOciArchiveFixture(join(d, 'b.tar'), {
      ref: `${REPO}/etcd:3.5.15-0`,
      digest: digestOf('e'),
      paxPath: true,
    });
    for (const f of ['a.tar', 'b.tar'])
      expect(await readOciArchive(join(d, f))).toEqual({
        ref: `${REPO}/etcd:3.5.15-0`,
        digest: digestOf('e'),
      });
  });

  it.each([
    ['no name', { ref: undefined, digest: digestOf('x') }, /does not name its image in full/],
    ['a bare tag', { ref: 'v1.31.2', digest: digestOf('x') }, /ref\.name "v1\.31\.2"/],
    ['two images', { ref: `${REPO}/a:1`, digest: digestOf('x'), manifests: 2 }, /holds 2 images/],
  ])('refuses an archive with %s', async (_what, image, message) => {
    const f = join(await tempDir(), 'x.tar');
    await writeOciArchiveFixture(f, image);
    await expect(readOciArchive(f)).rejects.toThrow(message);
  });

  it('refuses a file that is no tar with an index.json', async () => {
    const f = join(await tempDir(), 'x.tar');
    await writeFile(f, Buffer.alloc(2048));
    await expect(readOciArchive(f)).rejects.toThrow(/is not an OCI archive/);
  });
});

describe('ctr images ls output', () => {
  it('maps each ref to its target digest and skips the header and malformed lines', () => {
    const d1 = digestOf('1');
    const out = [
      'REF                          TYPE                                       DIGEST  SIZE     PLATFORMS   LABELS',
      `registry.lab:5000/k8s/pause:3.10 application/vnd.oci.image.manifest.v1+json ${d1} 1.2 KiB linux/amd64 io.cri-containerd.image=managed`,
      `sha256:${'c'.repeat(64)} application/vnd.oci.image.manifest.v1+json ${d1} 1.2 KiB linux/amd64 -`,
      'garbage',
      '',
    ].join('\n');
    expect([...parseCtrImages(out)]).toEqual([
      ['registry.lab:5000/k8s/pause:3.10', d1],
      [`sha256:${'c'.repeat(64)}`, d1],
    ]);
  });
});
