import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { ClusterSpec, SUPPORTED_MINORS, type SpecIssue } from '../../proto/cluster-spec.js';
import { parseKubeVersion } from '../../proto/checks.js';
import { cidrsOverlap, parseCidr } from './cidr.js';

export type SpecParse =
  | { ok: true; spec: ClusterSpec; warnings: SpecIssue[] }
  | { ok: false; errors: SpecIssue[]; warnings: SpecIssue[] };

function pathOf(parts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(root)' : out;
}

/**
 * cluster.yaml text -> a validated spec, or every problem with its path. YAML aliases are refused
 * (no billion laughs), unknown keys are errors, and the cross-field rules run after the schema.
 */
export function parseClusterSpec(text: string, source = 'cluster.yaml'): SpecParse {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({
        path: `${source}:${(e.linePos?.[0].line ?? 0).toString()}`,
        message: e.message.split('\n')[0] ?? e.message,
      })),
      warnings: [],
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 0 });
  } catch (err) {
    return { ok: false, errors: [{ path: source, message: (err as Error).message }], warnings: [] };
  }
  const parsed = ClusterSpec.safeParse(data ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ path: pathOf(i.path), message: i.message })),
      warnings: [],
    };
  }
  const { errors, warnings } = crossFieldRules(parsed.data);
  return errors.length > 0 ? { ok: false, errors, warnings } : { ok: true, spec: parsed.data, warnings };
}

export function crossFieldRules(spec: ClusterSpec): { errors: SpecIssue[]; warnings: SpecIssue[] } {
  const errors: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const v = parseKubeVersion(spec.kubernetesVersion);
  if (!v || v.major !== 1 || v.minor < SUPPORTED_MINORS.min || v.minor > SUPPORTED_MINORS.max) {
    errors.push({
      path: 'kubernetesVersion',
      message: `${spec.kubernetesVersion} is not supported; kctl installs v1.${SUPPORTED_MINORS.min} to v1.${SUPPORTED_MINORS.max}`,
    });
  }
  if (!spec.hosts.some((h) => h.role === 'control-plane')) {
    errors.push({ path: 'hosts', message: 'at least one entry must have role control-plane' });
  }
  const named = spec.hosts.filter((h) => h.name !== undefined && h.role === 'control-plane').length;
  if (spec.hosts.every((h) => h.name !== undefined) && named > 0 && named % 2 === 0) {
    warnings.push({
      path: 'hosts',
      message: `${named} control planes: an even number tolerates no more failures than ${named - 1} (etcd quorum)`,
    });
  }
  const seen = new Map<string, number>();
  spec.hosts.forEach((h, i) => {
    if (h.name === undefined) return;
    const first = seen.get(h.name);
    if (first !== undefined)
      errors.push({ path: `hosts[${i}].name`, message: `"${h.name}" is already listed at hosts[${first}]` });
    else seen.set(h.name, i);
  });
  const pod = parseCidr(spec.networking.podSubnet);
  const svc = parseCidr(spec.networking.serviceSubnet);
  if (!pod)
    errors.push({
      path: 'networking.podSubnet',
      message: `"${spec.networking.podSubnet}" is not a valid CIDR`,
    });
  if (!svc)
    errors.push({
      path: 'networking.serviceSubnet',
      message: `"${spec.networking.serviceSubnet}" is not a valid CIDR`,
    });
  if (pod && svc && cidrsOverlap(pod, svc)) {
    errors.push({
      path: 'networking.serviceSubnet',
      message: `${spec.networking.serviceSubnet} overlaps podSubnet ${spec.networking.podSubnet}`,
    });
  }
  if (spec.ha.mode === 'kube-vip' && isIP(spec.controlPlaneEndpoint.host) === 0) {
    errors.push({
      path: 'controlPlaneEndpoint.host',
      message: 'kube-vip needs the VIP as an IP address here',
    });
  }
  if (spec.ha.mode === 'kube-vip' && spec.kubeProxy.mode === 'ipvs') {
    warnings.push({
      path: 'kubeProxy.mode',
      message: 'ipvs with kube-vip: kctl sets ipvs.strictARP: true, as ARP-based VIPs need',
    });
  }
  if (spec.kubeProxy.mode === 'ipvs' && v && v.minor >= 35) {
    warnings.push({
      path: 'kubeProxy.mode',
      message: 'ipvs mode is deprecated since Kubernetes 1.35; prefer nftables',
    });
  }
  for (const [registry, pem] of Object.entries(spec.runtime.containerd.registryCAs)) {
    if (!pem.includes('END CERTIFICATE'))
      errors.push({
        path: `runtime.containerd.registryCAs.${registry}`,
        message: 'is not a PEM certificate',
      });
  }
  if (spec.cni.plugin !== 'none' && spec.cni.manifest === undefined) {
    warnings.push({
      path: 'cni.manifest',
      message: `no manifest given for ${spec.cni.plugin}: kctl cannot download one offline; the CNI phase will be skipped`,
    });
  }
  return { errors, warnings };
}
