import { isIP } from 'node:net';
import {
  SUPPORTED_MINORS,
  haVipAddress,
  kubeVipAddress,
  type ClusterSpec,
  type SpecIssue,
} from '../../proto/cluster-spec.js';
import { parseKubeVersion } from '../../proto/checks.js';
import { CALICO_VERSION, FLANNEL_VERSION } from '../../proto/images.js';
import { clusterImageNames } from '../images/cluster-images.js';
import { registrySecurityProblems } from '../render/insecure-registries.js';
import { cidrContains, cidrsOverlap, parseCidr, type Cidr } from './cidr.js';
import { checkNodeLabels } from './node-labels.js';

interface Findings {
  errors: SpecIssue[];
  warnings: SpecIssue[];
}

function checkVersion(spec: ClusterSpec, out: Findings): void {
  const v = parseKubeVersion(spec.kubernetesVersion);
  const range = `v1.${SUPPORTED_MINORS.min} to v1.${SUPPORTED_MINORS.max}`;
  if (!v || v.major !== 1 || v.minor > SUPPORTED_MINORS.max) {
    out.errors.push({
      path: 'kubernetesVersion',
      message: `${spec.kubernetesVersion} is not supported; kctl installs ${range}`,
    });
  } else if (v.minor < SUPPORTED_MINORS.min) {
    out.errors.push({
      path: 'kubernetesVersion',
      message: `${spec.kubernetesVersion} is not supported (too old: out of upstream support, and kube-vip's super-admin.conf handling starts at 1.29); kctl installs ${range}`,
    });
  }
}

function checkHosts(spec: ClusterSpec, out: Findings): void {
  const cps = spec.hosts.filter((h) => h.role === 'control-plane');
  if (cps.length === 0) {
    out.errors.push({ path: 'hosts', message: 'at least one entry must have role control-plane' });
  }
  const named = cps.filter((h) => h.name !== undefined).length;
  const allNamed = cps.every((h) => h.name !== undefined);
  if (spec.etcd.mode === 'stacked' && allNamed && named > 0 && named % 2 === 0) {
    out.warnings.push({
      path: 'hosts',
      message: `${named} control planes: an even number tolerates no more failures than ${named - 1} (etcd quorum)`,
    });
  }
  if (named > 1 && spec.ha.mode === 'none') {
    out.errors.push({
      path: 'ha.mode',
      message: `${named} control planes need an HA endpoint: use kube-vip or external-lb`,
    });
  }
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  spec.hosts.forEach((h, i) => {
    if (h.name !== undefined) {
      const first = names.get(h.name);
      if (first !== undefined)
        out.errors.push({
          path: `hosts[${i}].name`,
          message: `"${h.name}" is already listed at hosts[${first}]`,
        });
      else names.set(h.name, i);
    }
    if (h.address !== undefined) {
      const first = addresses.get(h.address);
      if (first !== undefined)
        out.errors.push({
          path: `hosts[${i}].address`,
          message: `${h.address} is already the address of hosts[${first}]`,
        });
      else addresses.set(h.address, i);
    }
  });
}

/** Pod and service networks: valid, one family, apart from each other and from every given address. */
function checkNetworks(spec: ClusterSpec, out: Findings): void {
  const { podSubnet, serviceSubnet } = spec.networking;
  const pod = parseCidr(podSubnet);
  const svc = parseCidr(serviceSubnet);
  if (!pod) out.errors.push({ path: 'networking.podSubnet', message: `"${podSubnet}" is not a valid CIDR` });
  if (!svc)
    out.errors.push({ path: 'networking.serviceSubnet', message: `"${serviceSubnet}" is not a valid CIDR` });
  if (pod && svc && pod.family !== svc.family) {
    out.errors.push({
      path: 'networking.serviceSubnet',
      message: `${serviceSubnet} and podSubnet ${podSubnet} are of different IP families; dual-stack is not supported`,
    });
  } else if (pod && svc && cidrsOverlap(pod, svc)) {
    out.errors.push({
      path: 'networking.serviceSubnet',
      message: `${serviceSubnet} overlaps podSubnet ${podSubnet}`,
    });
  }
  const nets: Array<[string, Cidr | undefined]> = [
    ['podSubnet', pod],
    ['serviceSubnet', svc],
  ];
  const given: Array<[string, string]> = [];
  spec.hosts.forEach((h, i) => {
    if (h.address !== undefined) given.push([`hosts[${i}].address`, h.address]);
  });
  const vip = haVipAddress(spec);
  if (vip !== undefined)
    given.push([
      spec.ha.mode !== 'none' && 'vip' in spec.ha && spec.ha.vip ? 'ha.vip' : 'controlPlaneEndpoint.host',
      vip,
    ]);
  if (spec.controlPlaneEndpoint.address !== undefined)
    given.push(['controlPlaneEndpoint.address', spec.controlPlaneEndpoint.address]);
  else if (isIP(spec.controlPlaneEndpoint.host) !== 0 && spec.controlPlaneEndpoint.host !== vip)
    given.push(['controlPlaneEndpoint.host', spec.controlPlaneEndpoint.host]);
  for (const [path, address] of given) {
    for (const [netName, net] of nets) {
      if (net && cidrContains(net, address)) {
        out.errors.push({
          path,
          message: `${address} is inside networking.${netName} ${net.address}/${net.prefix}`,
        });
      }
    }
  }
}

/**
 * HAProxy shares each control plane with an API server on 6443 (not on dedicated lb hosts); the VIP
 * is no host's own address; role lb only where HAProxy and keepalived are what kctl sets up.
 */
function checkHaproxyKeepalived(spec: ClusterSpec, out: Findings): void {
  const lbs = spec.hosts.flatMap((h, i) => (h.role === 'lb' ? [{ h, i }] : []));
  if (spec.ha.mode !== 'haproxy-keepalived') {
    for (const { i } of lbs)
      out.errors.push({
        path: `hosts[${i}].role`,
        message: `role lb needs ha.mode haproxy-keepalived (it is ${spec.ha.mode}): kctl puts HAProxy and keepalived on lb hosts only in that mode`,
      });
    return;
  }
  const { vip } = spec.ha;
  const named = lbs.filter(({ h }) => h.name !== undefined).length;
  if (lbs.length > 0 && named === lbs.length && named === 1)
    out.warnings.push({
      path: 'hosts',
      message: 'one lb host: the VIP has no other host to move to when it fails',
    });
  if (lbs.length === 0 && spec.controlPlaneEndpoint.port === 6443)
    out.errors.push({
      path: 'controlPlaneEndpoint.port',
      message:
        'HAProxy on the control planes cannot take 6443, where their API servers listen: use another port such as 8443',
    });
  const { host } = spec.controlPlaneEndpoint;
  if (isIP(host) !== 0 && host !== vip)
    out.errors.push({
      path: 'ha.vip',
      message: `the VIP ${vip} differs from controlPlaneEndpoint.host ${host}`,
    });
  spec.hosts.forEach((h, i) => {
    if (h.address === vip)
      out.errors.push({ path: 'ha.vip', message: `the VIP ${vip} is also the address of hosts[${i}]` });
  });
}

function checkHa(spec: ClusterSpec, out: Findings): void {
  checkHaproxyKeepalived(spec, out);
  if (spec.ha.mode !== 'kube-vip') return;
  const vip = kubeVipAddress(spec);
  if (vip === undefined) {
    out.errors.push({
      path: 'controlPlaneEndpoint.host',
      message: 'kube-vip needs the VIP as an IP address: give it here or in ha.vip',
    });
    return;
  }
  const vipPath = spec.ha.vip !== undefined ? 'ha.vip' : 'controlPlaneEndpoint.host';
  spec.hosts.forEach((h, i) => {
    if (h.address === vip)
      out.errors.push({ path: vipPath, message: `the VIP ${vip} is also the address of hosts[${i}]` });
  });
  const { host, address } = spec.controlPlaneEndpoint;
  if (isIP(host) !== 0 && host !== vip) {
    out.errors.push({
      path: 'ha.vip',
      message: `the VIP ${vip} differs from controlPlaneEndpoint.host ${host}`,
    });
  }
  if (address !== undefined && address !== vip) {
    out.warnings.push({
      path: 'controlPlaneEndpoint.address',
      message: `${host} is mapped to ${address}, not to the VIP ${vip}`,
    });
  }
  if (spec.kubeProxy.mode === 'ipvs') {
    out.warnings.push({
      path: 'kubeProxy.mode',
      message: 'ipvs with kube-vip: kctl sets ipvs.strictARP: true, as ARP-based VIPs need',
    });
  }
  const v = parseKubeVersion(spec.kubernetesVersion);
  if (v && v.minor === 29 && v.patch < 7) {
    out.warnings.push({
      path: 'kubernetesVersion',
      message:
        'static-pod hostAliases (which kube-vip uses) were reported broken in early 1.29 patches; prefer v1.29.7 or later',
    });
  }
}

function checkProxyAndRuntime(spec: ClusterSpec, out: Findings): void {
  const v = parseKubeVersion(spec.kubernetesVersion);
  if (spec.kubeProxy.mode === 'ipvs' && v && v.minor >= 35) {
    out.warnings.push({
      path: 'kubeProxy.mode',
      message: 'ipvs mode is deprecated since Kubernetes 1.35; prefer nftables',
    });
  }
  if (spec.kubeProxy.mode === 'nftables' && v && v.minor < 31) {
    out.warnings.push({
      path: 'kubeProxy.mode',
      message: `nftables mode is alpha in ${spec.kubernetesVersion}: kctl turns on the NFTablesProxyMode feature gate`,
    });
  }
  for (const [registry, pem] of Object.entries(spec.runtime.containerd.registryCAs)) {
    if (!pem.includes('END CERTIFICATE'))
      out.errors.push({
        path: `runtime.containerd.registryCAs.${registry}`,
        message: 'is not a PEM certificate',
      });
  }
  out.errors.push(...registrySecurityProblems(spec.runtime.containerd));
  if (spec.cni.calico !== undefined && spec.cni.plugin !== 'calico') {
    out.errors.push({
      path: 'cni.calico',
      message: `only applies with cni.plugin calico, not ${spec.cni.plugin}`,
    });
  }
  // without cni.manifest kctl applies its own template of a fixed release (controller/render/cni/)
  const template = { calico: CALICO_VERSION, flannel: FLANNEL_VERSION, none: undefined }[spec.cni.plugin];
  const version = spec.cni.version?.replace(/^v?/, 'v');
  if (
    spec.cni.manifest === undefined &&
    template !== undefined &&
    version !== undefined &&
    version !== template
  ) {
    out.warnings.push({
      path: 'cni.version',
      message: `no cni.manifest given: kctl applies its ${spec.cni.plugin} ${template} template, not ${spec.cni.version}`,
    });
  }
  const used = new Set<string>(clusterImageNames(spec));
  for (const name of Object.keys(spec.images.overrides)) {
    if (!used.has(name))
      out.warnings.push({
        path: `images.overrides.${name}`,
        message: 'no host of this cluster runs this image',
      });
  }
}

/** etcd hosts only with etcd.mode managed, and an odd number of them; external credentials as PEM. */
function checkEtcd(spec: ClusterSpec, out: Findings): void {
  const members = spec.hosts.flatMap((h, i) => (h.role === 'etcd' ? [{ h, i }] : []));
  if (spec.etcd.mode !== 'managed') {
    for (const { i } of members)
      out.errors.push({
        path: `hosts[${i}].role`,
        message: `role etcd needs etcd.mode managed (it is ${spec.etcd.mode})`,
      });
  }
  if (spec.etcd.mode === 'managed') {
    if (members.length === 0)
      out.errors.push({
        path: 'hosts',
        message: 'etcd.mode managed needs at least one entry with role etcd',
      });
    const named = members.filter(({ h }) => h.name !== undefined).length;
    if (named === members.length && named > 0 && named % 2 === 0)
      out.warnings.push({
        path: 'hosts',
        message: `${named} etcd members: an even number tolerates no more failures than ${named - 1} (quorum)`,
      });
  }
  if (spec.etcd.mode === 'stacked') return;
  if (Object.keys(spec.extraArgs.etcd).length > 0 && spec.etcd.mode === 'external')
    out.warnings.push({
      path: 'extraArgs.etcd',
      message: 'etcd.mode external: kctl runs no etcd, so these flags go nowhere',
    });
  if (spec.etcd.mode !== 'external') return;
  const seen = new Set<string>();
  spec.etcd.endpoints.forEach((url, i) => {
    const key = new URL(url).host;
    if (seen.has(key)) out.errors.push({ path: `etcd.endpoints[${i}]`, message: `${url} is listed twice` });
    seen.add(key);
  });
  const pems: Array<[string, string]> = [
    ['etcd.caCert', spec.etcd.caCert],
    ['etcd.clientCert', spec.etcd.clientCert],
    ['etcd.clientKey', spec.etcd.clientKey],
  ];
  for (const [path, pem] of pems) {
    if (!/-----END [A-Z ]+-----/.test(pem)) out.errors.push({ path, message: 'is not a complete PEM block' });
  }
}

/** Rules that span fields; the schema has already checked each field alone. */
export function crossFieldRules(spec: ClusterSpec): Findings {
  const out: Findings = { errors: [], warnings: [] };
  checkVersion(spec, out);
  checkHosts(spec, out);
  checkNetworks(spec, out);
  checkHa(spec, out);
  checkEtcd(spec, out);
  checkProxyAndRuntime(spec, out);
  checkNodeLabels(spec, out);
  return out;
}
