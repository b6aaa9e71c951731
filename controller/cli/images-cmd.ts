import { Command } from 'commander';
import { NodeRole } from '../../proto/checks.js';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import type { ClusterImage } from '../../proto/images.js';
import { clusterImages } from '../images/cluster-images.js';
import { loadClusterFile } from './cluster-file.js';
import { outputFormat, type CliContext } from './context.js';
import { renderTable } from '../../proto/text-table.js';

interface ImagesListOptions {
  file?: string;
  kubernetesVersion?: string;
  role?: string;
  output?: string;
}

/** cluster.yaml, or the defaults of one that only names its Kubernetes version. */
async function specFor(opts: ImagesListOptions): Promise<ClusterSpec> {
  if (opts.file !== undefined) {
    if (opts.kubernetesVersion !== undefined)
      throw new KctlError('invalid_args', '--kubernetes-version: give it or -f, not both');
    return (await loadClusterFile(opts.file)).spec;
  }
  if (opts.kubernetesVersion === undefined)
    throw new KctlError('invalid_args', 'give -f cluster.yaml or --kubernetes-version vX.Y.Z');
  const r = ClusterSpec.safeParse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'images',
    kubernetesVersion: opts.kubernetesVersion,
    controlPlaneEndpoint: { host: '127.0.0.1' },
    hosts: [{ name: 'cp-1', role: 'control-plane' }],
  });
  if (!r.success)
    throw new KctlError(
      'invalid_args',
      `--kubernetes-version: ${r.error.issues.map((i) => i.message).join('; ')}`,
    );
  return r.data;
}

export interface RoleImages {
  role: NodeRole;
  images: ClusterImage[];
}

export function listImages(spec: ClusterSpec, role: NodeRole | undefined): RoleImages[] {
  const roles: NodeRole[] = role === undefined ? ['control-plane', 'worker'] : [role];
  return roles.map((r) => ({ role: r, images: clusterImages(spec, r) }));
}

export function renderImagesTable(lists: RoleImages[]): string {
  const rows = lists.flatMap((l) =>
    l.images.map((i) => [
      l.role,
      i.name,
      i.image,
      i.overridden ? 'override' : i.source,
      i.mirrors.length > 0 ? i.mirrors.join(',') : '-',
    ]),
  );
  return renderTable(['ROLE', 'NAME', 'IMAGE', 'FROM', 'MIRRORS'], rows);
}

/** `kctl images list`: the images each role's hosts run, as kubeadm and kctl's manifests name them. */
export function imagesCommand(ctx: CliContext): Command {
  const list = new Command('list')
    .description('the container images each role runs (imageRepository, overrides and mirrors applied)')
    .option('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--kubernetes-version <vX.Y.Z>', 'without -f: list a default cluster of this version')
    .option('--role <role>', 'control-plane or worker (default: both)')
    .option('-o, --output <json>', 'print JSON')
    .action(async (opts: ImagesListOptions) => {
      const format = outputFormat(opts.output);
      let role: NodeRole | undefined;
      if (opts.role !== undefined) {
        const r = NodeRole.safeParse(opts.role);
        if (!r.success)
          throw new KctlError('invalid_args', `--role: "${opts.role}" must be control-plane or worker`);
        role = r.data;
      }
      const spec = await specFor(opts);
      const lists = listImages(spec, role);
      if (format === 'json') {
        ctx.out(`${JSON.stringify({ kubernetesVersion: spec.kubernetesVersion, roles: lists }, null, 2)}\n`);
        return;
      }
      ctx.out(renderImagesTable(lists));
    });
  return new Command('images').description('container images of a cluster').addCommand(list);
}
