import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../agent/host/local-host.js';
import type { BundleSource } from '../../agent/steps/bundle-fetch.js';
import { BUNDLE_SYNC_STEP_ID, bundleSyncStep } from '../../agent/steps/bundle-sync.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { imagesLoadStep } from '../../agent/steps/images-load.js';
import type { Step } from '../../agent/steps/step.js';
import { bundleImageNeeds } from '../../controller/bundle/images.js';
import { readManifest } from '../../controller/bundle/manifest.js';
import { signManifest } from '../../controller/bundle/sign.js';
import type { CliContext } from '../../controller/cli/context.js';
import { runKctl } from '../../controller/cli/program.js';
import { createCa, type CaKeyPair } from '../../controller/pki.js';
import { parseClusterSpec } from '../../controller/spec/parse.js';
import { parseCtrImages, type BundleImage } from '../../proto/bundle-images.js';
import {
  IMAGE_PROGRAMS,
  daemon,
  freePort,
  makeTestImage,
  missingPrograms,
  removeWorkDir,
  skopeoCopy,
  startContainerd,
  stop,
  waitFor,
  type Daemon,
} from './oci-test-images.js';

/**
 * Images in the offline bundle, for real: test images made here with umoci and tagged with the
 * names a cluster with a private imageRepository runs; `kctl bundle build --images` takes six of
 * them as --image-archive files and copies pause with skopeo from a local docker-registry; then a
 * control plane and a worker, each with its own real containerd, sync the signed bundle and import
 * exactly their role's images with ctr. Root only; every process and directory is removed afterwards.
 */

const REPO = 'registry.lab:5000/k8s';
const CLUSTER_YAML = [
  'apiVersion: kctl.dev/v1alpha1',
  'kind: Cluster',
  'name: images-lab',
  'kubernetesVersion: v1.31.2',
  'controlPlaneEndpoint: {host: 192.168.56.10}',
  `imageRepository: ${REPO}`,
  'cni: {plugin: none}',
  'hosts:',
  '  - {name: cp-1, role: control-plane}',
  '  - {name: w-1, role: worker}',
  '',
].join('\n');
const PAUSE = `${REPO}/pause:3.10`;

const isRoot = process.getuid?.() === 0;
const missing = await missingPrograms([
  ...IMAGE_PROGRAMS,
  ['docker-registry', 'docker-registry'],
  ['curl', 'curl'],
]);

function capture(): CliContext & { stdout: string; stderr: string } {
  const ctx = {
    exitCode: 0,
    stdout: '',
    stderr: '',
    out: (t: string) => void (ctx.stdout += t),
    err: (t: string) => void (ctx.stderr += t),
    client: () => Promise.reject(new Error('no controller in this test')),
  };
  return ctx;
}

/** What the controller's bundle routes serve: manifest.json signed by the CA, files from the directory. */
function dirSource(dir: string, ca: CaKeyPair): BundleSource {
  return {
    caPem: () => ca.certPem,
    async manifest() {
      const { text } = await readManifest(dir);
      return { manifest: text, signature: signManifest(text, ca.keyPem, ca.certPem) };
    },
    file: (path) => Promise.resolve(createReadStream(join(dir, path))),
  };
}

interface LabHost {
  name: string;
  role: 'control-plane' | 'worker';
  host: LocalHost;
  sock: string;
  containerd: Daemon;
}

describe('images in the offline bundle, imported by real containerd', () => {
  let work = '';
  let registry: Daemon | undefined;
  const hosts: LabHost[] = [];
  let ca: CaKeyPair;
  let bundleDir = '';
  let made = new Map<string, string>(); // ref -> digest skopeo wrote

  beforeAll(async () => {
    if (!isRoot) throw new Error('the bundle images lab test needs root (containerd snapshots, mounts)');
    if (missing.length > 0)
      throw new Error(`the bundle images lab test needs: ${missing.join(', ')} (apt-get install them)`);
    work = await mkdtemp('/var/tmp/kctl-bundle-images-lab-');
    await chmod(work, 0o755);
    ca = await createCa({ commonName: 'kctl bundle images lab CA' });
    const spec = parseClusterSpec(CLUSTER_YAML);
    if (!spec.ok) throw new Error(JSON.stringify(spec.errors));
    await writeFile(join(work, 'cluster.yaml'), CLUSTER_YAML);

    // one small image per reference the cluster runs, each with its own content and so its own digest
    const refs = [...bundleImageNeeds(spec.spec).keys()];
    made = new Map();
    const archives: string[] = [];
    for (const [n, ref] of refs.entries()) {
      const source = await makeTestImage(join(work, 'oci'), `img${n}`, {
        name: 'stand-in',
        content: `kctl test image: stands in for ${ref}\n`,
      });
      if (ref === PAUSE) {
        made.set(ref, source); // pushed to the registry below
        continue;
      }
      const archive = join(work, `archive-${n}.tar`);
      made.set(ref, await skopeoCopy(work, source, `oci-archive:${archive}:${ref}`));
      archives.push(archive);
    }

    // pause comes from a registry reachable at build time: a plain-http docker-registry on loopback
    const port = await freePort();
    await writeFile(
      join(work, 'registry.yml'),
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${join(work, 'registry-data')}}}`,
        `http: {addr: 127.0.0.1:${port}}`,
        '',
      ].join('\n'),
    );
    registry = daemon('docker-registry', ['serve', join(work, 'registry.yml')]);
    await waitFor('docker-registry', async () => {
      const r = await execa('curl', ['-sf', `http://127.0.0.1:${port}/v2/`], { reject: false });
      return r.exitCode === 0;
    });
    made.set(
      PAUSE,
      await skopeoCopy(work, made.get(PAUSE) ?? '', `docker://127.0.0.1:${port}/k8s/pause:3.10`, [
        '--dest-tls-verify=false',
      ]),
    );

    // kctl bundle build --images, as an operator runs it (the apt part from this machine's own packages)
    bundleDir = join(work, 'bundle');
    const ctx = capture();
    const code = await runKctl(
      [
        'bundle',
        'build',
        '--out',
        bundleDir,
        '--package',
        'containerd',
        '--base-rootfs',
        '/',
        '--images',
        '-f',
        join(work, 'cluster.yaml'),
        ...archives.flatMap((a) => ['--image-archive', a]),
        '--image-registry',
        `127.0.0.1:${port}`,
        '--image-registry-insecure',
      ],
      ctx,
    );
    expect(code, ctx.stderr).toBe(0);
    expect(ctx.stdout).toContain(`image ${PAUSE} ${made.get(PAUSE)} (control-plane, worker)`);

    for (const [name, role] of [
      ['cp-1', 'control-plane'],
      ['w-1', 'worker'],
    ] as const) {
      const dir = join(work, name);
      const { sock, process } = await startContainerd(join(dir, 'containerd'), { pauseImage: PAUSE });
      const root = join(dir, 'root');
      const bin = join(dir, 'bin');
      await mkdir(root, { recursive: true, mode: 0o755 });
      await mkdir(bin, { recursive: true });
      // the host's ctr talks to this host's containerd and finds the bundle below the host's root
      await writeFile(
        join(bin, 'ctr'),
        [
          '#!/bin/sh',
          'for a do',
          '  shift',
          `  case "$a" in /var/lib/kctl/*) set -- "$@" "${root}$a" ;; *) set -- "$@" "$a" ;; esac`,
          'done',
          `exec /usr/bin/ctr -a ${sock} "$@"`,
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const host = new LocalHost({ root, programPath: [bin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'] });
      hosts.push({ name, role, host, sock, containerd: process });
    }
  }, 80_000);

  afterAll(async () => {
    for (const h of hosts) await stop(h.containerd);
    await stop(registry);
    await removeWorkDir(work);
  }, 30_000);

  const stepsOf = (h: LabHost): Step[] => {
    const source = dirSource(bundleDir, ca);
    return [bundleSyncStep(source), imagesLoadStep(h.role, source, [BUNDLE_SYNC_STEP_ID])];
  };
  /**
   * The named images of the host's k8s.io namespace. containerd's CRI plugin also records each
   * image under its config ID (`sha256:...`); those must point at the named images' digests only.
   */
  const containerdImages = async (h: LabHost): Promise<Map<string, string>> => {
    const all = parseCtrImages((await execa('ctr', ['-a', h.sock, '-n', 'k8s.io', 'images', 'ls'])).stdout);
    const named = new Map([...all].filter(([ref]) => !ref.startsWith('sha256:')));
    const ids = [...all].filter(([ref]) => ref.startsWith('sha256:'));
    expect(new Set(ids.map(([, d]) => d))).toEqual(new Set(named.values()));
    return named;
  };

  it('the signed manifest lists every image with the digest the archive holds', async () => {
    const { manifest } = await readManifest(bundleDir);
    const images = manifest.images ?? [];
    expect(new Map(images.map((i) => [i.ref, i.digest]))).toEqual(made);
    for (const i of images) expect(manifest.files.map((f) => f.path)).toContain(i.archive);
  });

  it('each host imports exactly its role’s images at the manifest’s digests; plan afterwards finds none missing', async () => {
    const { manifest } = await readManifest(bundleDir);
    const images: BundleImage[] = manifest.images ?? [];
    for (const h of hosts) {
      const want = new Map(images.filter((i) => i.roles.includes(h.role)).map((i) => [i.ref, i.digest]));
      expect(await containerdImages(h)).toEqual(new Map());

      // plan: containerd is up and holds nothing, so every image of the role is missing
      const before = await planSteps(h.host, stepsOf(h));
      const missingBefore = before.flatMap((s) => s.changes).filter((c) => c.kind === 'image');
      expect(new Set(missingBefore.map((c) => c.kind === 'image' && c.ref))).toEqual(new Set(want.keys()));
      expect(missingBefore.every((c) => c.kind === 'image' && c.reason === 'missing')).toBe(true);

      const reports = await applySteps(h.host, stepsOf(h));
      for (const r of reports)
        expect(r.status, `${h.name} ${r.stepId}: ${JSON.stringify(r.error)}`).toBe('applied');
      expect(await containerdImages(h)).toEqual(want);

      const after = await planSteps(h.host, stepsOf(h));
      expect(after.flatMap((s) => s.changes)).toEqual([]);
    }
    const worker = hosts.find((h) => h.role === 'worker');
    expect([...(await containerdImages(worker!)).keys()].sort()).toEqual(
      [`${REPO}/coredns:v1.11.3`, `${REPO}/kube-proxy:v1.31.2`, PAUSE].sort(),
    );
  });

  it('an image removed from containerd is planned missing and imported again, alone', async () => {
    const cp = hosts.find((h) => h.role === 'control-plane')!;
    await execa('ctr', ['-a', cp.sock, '-n', 'k8s.io', 'images', 'rm', `${REPO}/etcd:3.5.15-0`]);
    const plan = await planSteps(cp.host, stepsOf(cp));
    expect(plan.flatMap((s) => s.changes)).toEqual([
      expect.objectContaining({ kind: 'image', ref: `${REPO}/etcd:3.5.15-0`, reason: 'missing' }),
    ]);
    await applySteps(cp.host, stepsOf(cp));
    expect((await containerdImages(cp)).get(`${REPO}/etcd:3.5.15-0`)).toBe(made.get(`${REPO}/etcd:3.5.15-0`));
  });
});
