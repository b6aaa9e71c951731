import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KctlError } from '../../proto/errors.js';
import {
  KUBE_VIP_IMAGE,
  KUBE_VIP_MANIFEST_PATH,
  kubeVipKubeconfig,
  renderKubeVipManifest,
} from './kube-vip.js';
import type { KubeVipInput } from './types.js';
import { readFileSync } from 'node:fs';
import { parseClusterSpec } from '../spec/parse.js';
import { kubeVipManifestFor } from './cluster-spec-inputs.js';

interface Pod {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    containers: Array<{
      image: string;
      imagePullPolicy: string;
      args: string[];
      env: Array<{ name: string; value?: string; valueFrom?: unknown }>;
      securityContext: unknown;
      volumeMounts: Array<{ name: string; mountPath: string }>;
    }>;
    volumes: Array<{ name: string; hostPath: { path: string } }>;
    hostAliases: unknown;
    hostNetwork: boolean;
  };
}
const pod = (text: string): Pod => parse(text) as Pod;
const envOf = (p: Pod): Record<string, string | undefined> =>
  Object.fromEntries(p.spec.containers[0]!.env.map((e) => [e.name, e.value]));
const base: KubeVipInput = {
  vip: '198.18.0.100',
  interface: 'eth1',
  port: 6443,
  firstControlPlane: false,
  kubernetesVersion: 'v1.31.2',
};

describe('kube-vip manifest', () => {
  it('uses the current env names and kube-vip v1.1+ lease values, in the generator order', () => {
    const p = pod(renderKubeVipManifest(base));
    const env = envOf(p);
    expect(Object.keys(env)).toEqual([
      'vip_arp',
      'port',
      'vip_nodename',
      'vip_interface',
      'vip_subnet',
      'dns_mode',
      'cp_enable',
      'cp_namespace',
      'vip_leaderelection',
      'vip_leasename',
      'vip_leaseduration',
      'vip_renewdeadline',
      'vip_retryperiod',
      'address',
      'prometheus_server',
    ]);
    expect(env).toEqual({
      vip_arp: 'true',
      port: '6443',
      vip_nodename: undefined,
      vip_interface: 'eth1',
      vip_subnet: '32',
      dns_mode: 'first',
      cp_enable: 'true',
      cp_namespace: 'kube-system',
      vip_leaderelection: 'true',
      vip_leasename: 'plndr-cp-lock',
      vip_leaseduration: '15',
      vip_renewdeadline: '10',
      vip_retryperiod: '2',
      address: '198.18.0.100',
      prometheus_server: ':2112',
    });
    expect(p.spec.containers[0]!.env.find((e) => e.name === 'vip_nodename')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'spec.nodeName' },
    });
    expect(env).not.toHaveProperty('vip_cidr');
    expect(env).not.toHaveProperty('vip_address');
  });

  it('is a host-network static pod of the pinned image with only NET_ADMIN and NET_RAW', () => {
    const p = pod(renderKubeVipManifest(base));
    expect(p).toMatchObject({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'kube-vip', namespace: 'kube-system' },
    });
    const c = p.spec.containers[0]!;
    expect(c.image).toBe('ghcr.io/kube-vip/kube-vip:v1.2.3');
    expect(KUBE_VIP_IMAGE).toBe('ghcr.io/kube-vip/kube-vip:v1.2.3');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.args).toEqual(['manager']);
    expect(c.securityContext).toEqual({ capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } });
    expect(p.spec.hostNetwork).toBe(true);
    expect(p.spec.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['kubernetes'] }]);
    expect(KUBE_VIP_MANIFEST_PATH).toBe('/etc/kubernetes/manifests/kube-vip.yaml');
  });

  it.each([
    ['v1.28.15', true, '/etc/kubernetes/admin.conf'],
    ['v1.28.15', false, '/etc/kubernetes/admin.conf'],
    ['v1.29.0', true, '/etc/kubernetes/super-admin.conf'],
    ['v1.29.0', false, '/etc/kubernetes/admin.conf'],
    ['v1.31.2', true, '/etc/kubernetes/super-admin.conf'],
    ['v1.31.2', false, '/etc/kubernetes/admin.conf'],
    ['v1.35.0', true, '/etc/kubernetes/super-admin.conf'],
    ['v1.35.0', false, '/etc/kubernetes/admin.conf'],
  ])('on %s (first control plane: %s) reads %s, mounted as admin.conf', (version, first, hostPath) => {
    expect(kubeVipKubeconfig(version, first)).toBe(hostPath);
    const p = pod(renderKubeVipManifest({ ...base, kubernetesVersion: version, firstControlPlane: first }));
    expect(p.spec.volumes).toEqual([{ name: 'kubeconfig', hostPath: { path: hostPath } }]);
    expect(p.spec.containers[0]!.volumeMounts).toEqual([
      { name: 'kubeconfig', mountPath: '/etc/kubernetes/admin.conf' },
    ]);
  });

  it('announces on the port it is given and uses a /128 for an IPv6 VIP', () => {
    const env = envOf(pod(renderKubeVipManifest({ ...base, vip: 'fd00::100', port: 8443 })));
    expect(env).toMatchObject({ vip_subnet: '128', address: 'fd00::100', port: '8443' });
  });

  it('takes another image when given one', () => {
    const p = pod(renderKubeVipManifest({ ...base, image: 'registry.example/kube-vip:v1.2.3' }));
    expect(p.spec.containers[0]!.image).toBe('registry.example/kube-vip:v1.2.3');
  });

  it.each([
    ['registry.k8s.io', '', 'ghcr.io/kube-vip/kube-vip:v1.2.3'],
    [
      'a private imageRepository',
      'imageRepository: reg.example:5000/k8s',
      'reg.example:5000/k8s/kube-vip/kube-vip:v1.2.3',
    ],
    [
      'an override',
      'imageRepository: reg.example:5000/k8s\nimages: {overrides: {kube-vip: "other.example/kv:v1.2.3"}}',
      'other.example/kv:v1.2.3',
    ],
  ])('from cluster.yaml with %s runs %s', (_what, yaml, image) => {
    const text = readFileSync('test/fixtures/cluster/full.yaml', 'utf8').replace(
      'imageRepository: registry.k8s.io\n',
      `${yaml}\n`,
    );
    const r = parseClusterSpec(text);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const m = kubeVipManifestFor(r.spec, { role: 'control-plane', first: true });
    expect(pod(m?.content ?? '').spec.containers[0]!.image).toBe(image);
  });

  it.each([
    ['a DNS name as the VIP', { vip: 'api.example' }],
    ['port 0', { port: 0 }],
    ['port 70000', { port: 70000 }],
  ])('refuses %s', (_what, overrides) => {
    expect(() => renderKubeVipManifest({ ...base, ...overrides })).toThrow(KctlError);
  });
});
