import { BUNDLE_HOST_DIR } from '../../proto/bundle.js';
import {
  CONTAINERD_K8S_NAMESPACE,
  bundleImagesFor,
  imageArchiveProblems,
  parseCtrImages,
  type ImageChange,
} from '../../proto/bundle-images.js';
import { KctlError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import type { Host } from '../host/host.js';
import type { BundleSource } from './bundle-fetch.js';
import { verifiedManifest } from './bundle-sync.js';
import type { Step } from './step.js';

export const IMAGES_LOAD_STEP_ID = 'images-load';
const CTR = 'ctr';
const LIST_TIMEOUT_MS = 60_000;
/** one archive: a large image on a slow disk, unpacked by containerd as it is imported */
const IMPORT_TIMEOUT_MS = 15 * 60_000;

/** ref -> digest in containerd's k8s.io namespace; undefined when containerd does not answer (not installed or not up). */
async function containerdImages(host: Host): Promise<Map<string, string> | undefined> {
  if ((await host.which(CTR)) === undefined) return undefined;
  const r = await host.run(CTR, ['-n', CONTAINERD_K8S_NAMESPACE, 'images', 'ls'], {
    allowFailure: true,
    timeoutMs: LIST_TIMEOUT_MS,
  });
  return r.exitCode === 0 ? parseCtrImages(r.stdout) : undefined;
}

/**
 * Loads the images a host of `role` runs from the synced offline bundle into containerd's k8s.io
 * namespace, before kubeadm wants them: `ctr images import` of each archive whose image containerd
 * lacks or holds at another digest, the archive's SHA-256 checked against the signed manifest first
 * and the digest containerd records checked after. Images already there at the right digest are
 * left alone; a bundle without images gives this step nothing to do.
 */
export function imagesLoadStep(role: string, source: BundleSource | undefined, dependsOn: string[]): Step {
  const need = (): BundleSource => {
    if (source) return source;
    throw new KctlError(
      'step_failed',
      'The offline bundle’s images cannot be loaded: this agent has no controller connection for it',
    );
  };
  return {
    id: IMAGES_LOAD_STEP_ID,
    title: 'container images from the offline bundle',
    dependsOn,
    async diff(host) {
      const manifest = await verifiedManifest(need());
      const images = bundleImagesFor(manifest.images, role);
      if (images.length === 0) return [];
      const problems = imageArchiveProblems(images, manifest.files);
      if (problems.length > 0)
        throw new KctlError('step_failed', `The offline bundle manifest: ${problems.join('; ')}`);
      const held = await containerdImages(host);
      const changes: Change[] = [];
      for (const i of images) {
        const now = held?.get(i.ref);
        if (now === i.digest) continue;
        changes.push({
          kind: 'image',
          ref: i.ref,
          digest: i.digest,
          from: now ?? null,
          archive: `${BUNDLE_HOST_DIR}/${i.archive}`,
          archiveSha256: i.archiveSha256,
          reason: held === undefined ? 'containerd not running' : now === undefined ? 'missing' : 'differs',
        });
      }
      return changes;
    },
    async apply(host, changes) {
      const wanted = changes.filter((c): c is ImageChange => c.kind === 'image');
      for (const c of wanted) {
        if (!c.archive.startsWith(`${BUNDLE_HOST_DIR}/`))
          throw new KctlError('plan_stale', `"${c.archive}" is not inside ${BUNDLE_HOST_DIR}`);
        const got = await host.hashFile(c.archive);
        if (got?.sha256 !== c.archiveSha256)
          throw new KctlError(
            'step_failed',
            `The image archive "${c.archive}" does not match the signed manifest (sha256 ${got?.sha256 ?? 'absent'}); ${c.ref} is not imported`,
            { details: { remedy: 'run kctl apply again: the bundle step fetches the archive anew' } },
          );
        await host.run(CTR, ['-n', CONTAINERD_K8S_NAMESPACE, 'images', 'import', '--', c.archive], {
          timeoutMs: IMPORT_TIMEOUT_MS,
        });
      }
      if (wanted.length === 0) return;
      const held = await containerdImages(host);
      const wrong = wanted.filter((c) => held?.get(c.ref) !== c.digest);
      if (wrong.length > 0)
        throw new KctlError(
          'step_failed',
          `After ctr images import, containerd holds ${wrong
            .map((c) => `${c.ref} at ${held?.get(c.ref) ?? 'no digest'} (the manifest says ${c.digest})`)
            .join('; ')}`,
        );
    },
  };
}
