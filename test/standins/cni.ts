/**
 * What makes a manifest "a CNI" for the stand-ins: once one is applied the kubelets report their
 * network ready (nodes turn Ready) and each node gets the plugin's config in /etc/cni/net.d, as the
 * plugin's DaemonSet would write it. Pure.
 */

const KNOWN_CNIS = ['calico', 'flannel', 'cilium', 'weave', 'canal', 'antrea', 'kube-router'];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function hostPaths(doc: Json): string[] {
  const spec = isObject(doc.spec) ? doc.spec : {};
  const template = isObject(spec.template) ? spec.template : {};
  const podSpec = isObject(template.spec) ? template.spec : {};
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
  return volumes.flatMap((v) =>
    isObject(v) && isObject(v.hostPath) && typeof v.hostPath.path === 'string' ? [v.hostPath.path] : [],
  );
}

/**
 * The CNI a document installs, if any: a DaemonSet that writes /etc/cni/net.d or is named after a
 * CNI, or the Calico operator's Installation resource.
 */
export function cniOf(doc: Json): string | undefined {
  const kind = doc.kind;
  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  if (
    kind === 'Installation' &&
    typeof doc.apiVersion === 'string' &&
    doc.apiVersion.startsWith('operator.tigera.io/')
  ) {
    return 'calico';
  }
  if (kind !== 'DaemonSet') return undefined;
  const known = KNOWN_CNIS.find((c) => name.includes(c));
  if (known) return known;
  if (hostPaths(doc).some((p) => p.replace(/\/+$/, '') === '/etc/cni/net.d') || /(^|-)cni($|-)/.test(name)) {
    return name;
  }
  return undefined;
}

export function cniConfig(name: string): { path: string; content: string } {
  return {
    path: `/etc/cni/net.d/10-${name}.conflist`,
    content: `${JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: `${name} (written by the kctl stand-in for the ${name} DaemonSet)`,
        plugins: [
          { type: name.replace(/[^a-z0-9-]/g, '') || 'standin' },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    )}\n`,
  };
}

/** A CNI DaemonSet manifest for the labs' cluster.yaml: the stand-in kubectl marks nodes Ready once one is applied. */
export const CALICO_NODE_MANIFEST = [
  'apiVersion: apps/v1',
  'kind: DaemonSet',
  'metadata: {name: calico-node, namespace: kube-system}',
  'spec:',
  '  selector: {matchLabels: {k8s-app: calico-node}}',
  '  template:',
  '    metadata: {labels: {k8s-app: calico-node}}',
  '    spec:',
  '      hostNetwork: true',
  '      containers: [{name: calico-node, image: docker.io/calico/node:v3.28.0}]',
  '',
].join('\n');
