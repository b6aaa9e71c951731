import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { ClusterSpec } from '../../../proto/cluster-spec.js';
import { parseClusterSpec } from '../../spec/parse.js';
import { emptyState } from '../../../test/standins/cluster-state.js';
import { applyObjects, parseManifest } from '../../../test/standins/kubectl-apply.js';
import { cniManifestFor } from './cni-inputs.js';

interface Container {
  image: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
}
interface Doc {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template: { spec: { containers: Container[]; initContainers?: Container[] } } };
}

function spec(cni: string, extra = ''): ClusterSpec {
  const text =
    readFileSync('test/fixtures/cluster/full.yaml', 'utf8')
      .replace(/cni:\n(?: {2}.*\n)+/, `cni:\n${cni}`)
      .replace('podSubnet: 10.244.0.0/16', 'podSubnet: 172.30.0.0/16') + extra;
  const r = parseClusterSpec(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function docs(manifest: string | undefined): Doc[] {
  // shared objects in the template must not come out as YAML anchors and aliases
  expect(manifest).not.toMatch(/[&*]a\d+\b/);
  return parseAllDocuments(manifest ?? '').map((d) => d.toJS() as Doc);
}
const find = (all: Doc[], kind: string, name: string): Doc => {
  const d = all.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name}`);
  return d;
};
const envOf = (container: Container | undefined): Record<string, unknown> =>
  Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
const podOf = (d: Doc): { containers: Container[]; initContainers?: Container[] } => {
  if (!d.spec) throw new Error(`${d.kind} ${d.metadata.name} has no pod template`);
  return d.spec.template.spec;
};
const dataOf = (d: Doc): Record<string, string> => d.data ?? {};
interface CniConf {
  plugins: Array<{ mtu?: unknown; delegate?: Record<string, unknown> }>;
}
const cniConf = (text: string | undefined): CniConf => JSON.parse(text ?? '') as CniConf;

describe('CNI templates', () => {
  it('renders Calico with the podSubnet, the IP autodetection method, the MTU and the image repository', () => {
    const s = spec(
      '  plugin: calico\n  mtu: 1400\n  calico:\n    ipAutodetectionMethod: can-reach=198.18.0.1\n',
      'images:\n  overrides:\n    calico-kube-controllers: other.example/kc:v1\n',
    );
    const m = cniManifestFor({ ...s, imageRepository: 'reg.example:5000/k8s' }, undefined);
    expect(m).toMatchObject({ plugin: 'calico', source: 'template', version: 'v3.28.2' });
    const all = docs(m?.content);
    expect(dataOf(find(all, 'ConfigMap', 'calico-config')).veth_mtu).toBe('1400');
    const ds = podOf(find(all, 'DaemonSet', 'calico-node'));
    const node = envOf(ds.containers[0]);
    expect(node.CALICO_IPV4POOL_CIDR).toBe('172.30.0.0/16');
    expect(node.IP_AUTODETECTION_METHOD).toBe('can-reach=198.18.0.1');
    expect(node.FELIX_IPINIPMTU).toEqual({ configMapKeyRef: { name: 'calico-config', key: 'veth_mtu' } });
    expect(ds.containers[0]?.image).toBe('reg.example:5000/k8s/calico/node:v3.28.2');
    expect(ds.initContainers?.[0]?.image).toBe('reg.example:5000/k8s/calico/cni:v3.28.2');
    const kc = podOf(find(all, 'Deployment', 'calico-kube-controllers')).containers[0];
    expect(kc?.image).toBe('other.example/kc:v1');
    // the CNI config install-cni writes takes the MTU as a bare number
    const cniConfig = dataOf(find(all, 'ConfigMap', 'calico-config')).cni_network_config ?? '';
    expect(cniConf(cniConfig.replace('__CNI_MTU__', '1400')).plugins[0]?.mtu).toBe(1400);
  });

  it('defaults Calico to first-found and an MTU it detects', () => {
    const all = docs(cniManifestFor(spec('  plugin: calico\n'), undefined)?.content);
    expect(dataOf(find(all, 'ConfigMap', 'calico-config')).veth_mtu).toBe('0');
    const node = envOf(podOf(find(all, 'DaemonSet', 'calico-node')).containers[0]);
    expect(node.IP_AUTODETECTION_METHOD).toBe('first-found');
    expect(podOf(find(all, 'DaemonSet', 'calico-node')).containers[0]?.image).toBe(
      'docker.io/calico/node:v3.28.2',
    );
  });

  it('gives Calico an IPv6 pool for an IPv6 podSubnet', () => {
    const s = spec('  plugin: calico\n');
    const m = cniManifestFor(
      { ...s, networking: { ...s.networking, podSubnet: 'fd00:10:244::/56' } },
      undefined,
    );
    const node = envOf(podOf(find(docs(m?.content), 'DaemonSet', 'calico-node')).containers[0]);
    expect(node).toMatchObject({ CALICO_IPV6POOL_CIDR: 'fd00:10:244::/56', IP: 'none', IP6: 'autodetect' });
    expect(node.IP6_AUTODETECTION_METHOD).toBe('first-found');
    expect(node.CALICO_IPV4POOL_CIDR).toBeUndefined();
  });

  it("renders flannel's net-conf.json Network from the podSubnet and the MTU into the CNI delegate", () => {
    const m = cniManifestFor(spec('  plugin: flannel\n  mtu: 1450\n'), undefined);
    expect(m).toMatchObject({ plugin: 'flannel', source: 'template', version: 'v0.26.7' });
    const all = docs(m?.content);
    const cfg = dataOf(find(all, 'ConfigMap', 'kube-flannel-cfg'));
    expect(JSON.parse(cfg['net-conf.json'] ?? '') as unknown).toEqual({
      Network: '172.30.0.0/16',
      EnableNFTables: false,
      Backend: { Type: 'vxlan' },
    });
    expect(cniConf(cfg['cni-conf.json']).plugins[0]?.delegate?.mtu).toBe(1450);
    const ds = podOf(find(all, 'DaemonSet', 'kube-flannel-ds'));
    expect(ds.containers[0]?.image).toBe('ghcr.io/flannel-io/flannel:v0.26.7');
    expect(ds.initContainers?.[0]?.image).toBe('ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1');
  });

  it('leaves the MTU out of flannel when cluster.yaml gives none', () => {
    const all = docs(cniManifestFor(spec('  plugin: flannel\n'), undefined)?.content);
    const cfg = dataOf(find(all, 'ConfigMap', 'kube-flannel-cfg'));
    expect(cniConf(cfg['cni-conf.json']).plugins[0]?.delegate).toEqual({
      hairpinMode: true,
      isDefaultGateway: true,
    });
  });

  it('applies a user-supplied manifest verbatim, and nothing for plugin none', () => {
    const s = spec('  plugin: calico\n  manifest: calico.yaml\n  version: v3.27.0\n');
    expect(cniManifestFor(s, 'kind: List\n')).toEqual({
      plugin: 'calico',
      source: 'file',
      version: 'v3.27.0',
      content: 'kind: List\n',
    });
    expect(cniManifestFor(spec('  plugin: none\n'), undefined)).toBeUndefined();
  });

  it.each(['calico', 'flannel'])(
    "applies the %s template cleanly to the kubectl stand-in's API server, which sees a CNI in it",
    (plugin) => {
      const parsed = parseManifest(
        cniManifestFor(spec(`  plugin: ${plugin}\n`), undefined)?.content ?? '',
        'cni.yaml',
      );
      if ('error' in parsed) throw new Error(parsed.error);
      const outcome = applyObjects(emptyState(), parsed.objects, 'cni.yaml', 1000);
      expect(outcome.errors).toEqual([]);
      expect(outcome.cni).toBe(plugin);
      expect(outcome.lines.every((l) => l.endsWith(' created'))).toBe(true);
    },
  );
});
