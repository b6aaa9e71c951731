import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_API_VERSION, type BundleManifest } from '../../proto/bundle.js';
import type { BundleImage } from '../../proto/bundle-images.js';
import { HostSpec } from '../../proto/host-spec.js';
import { createCa, type CaKeyPair } from '../../controller/pki.js';
import { signManifest } from '../../controller/bundle/sign.js';
import { manifestText } from '../../controller/bundle/manifest.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';
import type { BundleSource } from '../../agent/steps/bundle-fetch.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { IMAGES_LOAD_STEP_ID, imagesLoadStep } from '../../agent/steps/images-load.js';
import { stepsForHostSpec } from '../../agent/steps/index.js';

const sha = (b: string): string => createHash('sha256').update(b).digest('hex');
const digest = (s: string): string => `sha256:${sha(s)}`;
const REPO = 'registry.lab:5000/k8s';

/** An archive stand-in: the fake ctr reads "REF DIGEST" from it, as containerd reads index.json. */
const archive = (ref: string, d = digest(ref)): string => `${ref} ${d}\n`;

function image(ref: string, roles: BundleImage['roles'], body = archive(ref)): BundleImage {
  return {
    ref,
    digest: digest(ref),
    archive: `images/${ref.replace(/[/:]/g, '_')}.tar`,
    archiveSha256: sha(body),
    roles,
  };
}

const APISERVER = image(`${REPO}/kube-apiserver:v1.31.2`, ['control-plane']);
const PAUSE = image(`${REPO}/pause:3.10`, ['control-plane', 'worker']);
const PROXY = image(`${REPO}/kube-proxy:v1.31.2`, ['control-plane', 'worker']);

function source(ca: CaKeyPair, images: BundleImage[] | undefined): BundleSource {
  const manifest: BundleManifest = {
    apiVersion: BUNDLE_API_VERSION,
    kind: 'BundleManifest',
    createdAt: '2026-12-07T17:00:00.000Z',
    files: (images ?? []).map((i) => ({ path: i.archive, sha256: i.archiveSha256, size: 1 })),
    ...(images !== undefined ? { images } : {}),
  };
  const text = manifestText(manifest);
  return {
    caPem: () => ca.certPem,
    manifest: () => Promise.resolve({ manifest: text, signature: signManifest(text, ca.keyPem, ca.certPem) }),
    file: () => Promise.resolve(Readable.from([])),
  };
}

/**
 * A ctr stand-in keeping containerd's image list in a file under the root: `images ls` prints it,
 * `images import -- FILE` adds the "REF DIGEST" line FILE holds (or DIGEST_OVERRIDE's digest).
 */
function fakeCtr(root: string, options: { down?: boolean; importDigest?: string } = {}) {
  const state = join(root, 'containerd-images');
  return {
    script: [
      options.down ? 'echo "ctr: failed to dial /run/containerd/containerd.sock" >&2; exit 1' : '',
      'case "$4" in',
      `  ls) echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat ${state} 2>/dev/null ;;`,
      `  import) read ref d < "${root}$6"; echo "$ref application/vnd.oci.image.manifest.v1+json ${
        options.importDigest ?? '$d'
      } 1.0KiB linux/amd64 -" >> ${state} ;;`,
      'esac',
    ].join('\n'),
  };
}

describe('images-load step', () => {
  let ca: CaKeyPair;
  let th: TempHost;
  let root: string;
  beforeAll(async () => {
    ca = await createCa({ commonName: 'kctl controller CA' });
  });
  afterEach(async () => {
    await th.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  async function host(
    images: BundleImage[],
    ctr: { down?: boolean; importDigest?: string; absent?: boolean } = {},
  ): Promise<void> {
    root = await mkdtemp(join(tmpdir(), 'kctl-images-load-'));
    await mkdir(join(root, 'var/lib/kctl/bundle/images'), { recursive: true });
    for (const i of images) await writeFile(join(root, 'var/lib/kctl/bundle', i.archive), archive(i.ref));
    th = await tempHost({ root, programs: ctr.absent ? {} : { ctr: fakeCtr(root, ctr) } });
  }
  const imports = async (): Promise<string[]> =>
    (await th.calls()).filter((c) => c.args.includes('import')).map((c) => c.args.at(-1) ?? '');

  it('imports exactly its role’s images, checks their digests, and a second run imports nothing', async () => {
    const all = [APISERVER, PAUSE, PROXY];
    await host(all);
    const step = imagesLoadStep('worker', source(ca, all), []);
    const [plan] = await planSteps(th.host, [step]);
    expect(plan?.changes).toEqual([
      {
        kind: 'image',
        ref: PROXY.ref,
        digest: PROXY.digest,
        from: null,
        archive: `/var/lib/kctl/bundle/${PROXY.archive}`,
        archiveSha256: PROXY.archiveSha256,
        reason: 'missing',
      },
      expect.objectContaining({ kind: 'image', ref: PAUSE.ref, reason: 'missing' }),
    ]);
    const [report] = await applySteps(th.host, [step]);
    expect(report?.status, JSON.stringify(report?.error)).toBe('applied');
    expect(await imports()).toEqual([
      `/var/lib/kctl/bundle/${PROXY.archive}`,
      `/var/lib/kctl/bundle/${PAUSE.archive}`,
    ]);
    const importCall = (await th.calls()).find((c) => c.args.includes('import'));
    expect(importCall?.args).toEqual([
      '-n',
      'k8s.io',
      'images',
      'import',
      '--',
      `/var/lib/kctl/bundle/${PROXY.archive}`,
    ]);
    const held = await readFile(join(root, 'containerd-images'), 'utf8');
    expect(held).not.toContain('kube-apiserver');

    expect((await planSteps(th.host, [step]))[0]?.changes).toEqual([]);
    const [again] = await applySteps(th.host, [step]);
    expect(again?.status).toBe('unchanged');
    expect(await imports()).toHaveLength(2);
  });

  it('a control plane re-imports an image containerd holds at another digest', async () => {
    await host([APISERVER, PAUSE]);
    await writeFile(
      join(root, 'containerd-images'),
      `${PAUSE.ref} x ${digest('old pause')} 1KiB linux/amd64 -\n${APISERVER.ref} x ${APISERVER.digest} 1KiB linux/amd64 -\n`,
    );
    const step = imagesLoadStep('control-plane', source(ca, [APISERVER, PAUSE]), []);
    const [plan] = await planSteps(th.host, [step]);
    expect(plan?.changes).toEqual([
      expect.objectContaining({ ref: PAUSE.ref, from: digest('old pause'), reason: 'differs' }),
    ]);
  });

  it('plans every image as missing while containerd is not installed or not up', async () => {
    await host([PAUSE], { absent: true });
    const step = imagesLoadStep('worker', source(ca, [PAUSE]), []);
    expect((await planSteps(th.host, [step]))[0]?.changes).toEqual([
      expect.objectContaining({ ref: PAUSE.ref, from: null, reason: 'containerd not running' }),
    ]);
    await th.cleanup();
    await rm(root, { recursive: true, force: true });
    await host([PAUSE], { down: true });
    expect((await planSteps(th.host, [step]))[0]?.changes).toEqual([
      expect.objectContaining({ ref: PAUSE.ref, reason: 'containerd not running' }),
    ]);
  });

  it('refuses an archive whose bytes differ from the signed manifest, before ctr sees it', async () => {
    await host([PAUSE]);
    await writeFile(join(root, 'var/lib/kctl/bundle', PAUSE.archive), 'tampered');
    const step = imagesLoadStep('worker', source(ca, [PAUSE]), []);
    const [report] = await applySteps(th.host, [step]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toMatch(/does not match the signed manifest.*pause:3\.10 is not imported/);
    expect(await imports()).toEqual([]);
  });

  it('fails when containerd records another digest after the import', async () => {
    await host([PAUSE], { importDigest: digest('something else') });
    const step = imagesLoadStep('worker', source(ca, [PAUSE]), []);
    const [report] = await applySteps(th.host, [step]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toContain(
      `containerd holds ${PAUSE.ref} at ${digest('something else')} (the manifest says ${PAUSE.digest})`,
    );
  });

  it('has nothing to do, and runs no ctr, when the bundle carries no images', async () => {
    await host([]);
    const step = imagesLoadStep('worker', source(ca, undefined), []);
    expect((await planSteps(th.host, [step]))[0]?.changes).toEqual([]);
    expect(await th.calls()).toEqual([]);
  });

  it('is part of a host converged from the bundle, after the bundle and the packages, and only then', () => {
    const base = {
      hostName: 'w-1',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      packages: [{ name: 'containerd', hold: false }],
    };
    const ids = stepsForHostSpec(HostSpec.parse({ ...base, packagesFrom: 'bundle' })).map((s) => s.id);
    expect(ids.slice(-3)).toEqual(['bundle-sync', 'packages', IMAGES_LOAD_STEP_ID]);
    const step = stepsForHostSpec(HostSpec.parse({ ...base, packagesFrom: 'bundle' })).at(-1);
    expect(step?.dependsOn).toEqual(['bundle-sync', 'packages']);
    expect(stepsForHostSpec(HostSpec.parse(base)).map((s) => s.id)).not.toContain(IMAGES_LOAD_STEP_ID);
  });
});
