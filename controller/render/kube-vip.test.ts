import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from '../spec/parse.js';
import {
  KUBE_VIP_IMAGE,
  KUBE_VIP_MANIFEST_PATH,
  kubeVipKubeconfig,
  kubeVipManifestFor,
  renderKubeVipManifest,
} from './kube-vip.js';

function specOf(extra: string, version = 'v1.31.2'): ClusterSpec {
  const r = parseClusterSpec(`apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: t
kubernetesVersion: ${version}
${extra}
hosts: [{name: cp-1, role: control-plane}]
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

interface Pod {
  spec: {
    containers: Array<{
      image: string;
      args: string[];
      env: Array<{ name: string; value?: string }>;
      volumeMounts: Array<{ mountPath: string }>;
    }>;
    volumes: Array<{ hostPath: { path: string } }>;
    hostAliases: unknown;
    hostNetwork: boolean;
  };
}
const pod = (text: string): Pod => parse(text) as Pod;
const envOf = (p: Pod): Record<string, string | undefined> =>
  Object.fromEntries(p.spec.containers[0]!.env.map((e) => [e.name, e.value]));

describe('kube-vip manifest', () => {
  const kubeVip = specOf('controlPlaneEndpoint: {host: 198.18.0.100}\nha: {mode: kube-vip, interface: eth1}');

  it('uses the current env names and kube-vip v1.1+ lease values', () => {
    const p = pod(kubeVipManifestFor(kubeVip, { role: 'control-plane', first: false })!.content);
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
    expect(env).toMatchObject({
      vip_arp: 'true',
      port: '6443',
      vip_interface: 'eth1',
      vip_subnet: '32',
      cp_enable: 'true',
      vip_leaderelection: 'true',
      vip_leaseduration: '15',
      vip_renewdeadline: '10',
      vip_retryperiod: '2',
      address: '198.18.0.100',
    });
    expect(env).not.toHaveProperty('vip_cidr');
    expect(env).not.toHaveProperty('vip_address');
    expect(p.spec.containers[0]!.image).toBe(KUBE_VIP_IMAGE);
    expect(KUBE_VIP_IMAGE).toBe('ghcr.io/kube-vip/kube-vip:v1.2.3');
    expect(p.spec.containers[0]!.args).toEqual(['manager']);
    expect(p.spec.hostNetwork).toBe(true);
    expect(p.spec.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['kubernetes'] }]);
  });

  it.each([
    [true, '/etc/kubernetes/super-admin.conf'],
    [false, '/etc/kubernetes/admin.conf'],
  ])('on a control plane that runs init=%s reads %s, mounted as admin.conf', (first, hostPath) => {
    const p = pod(kubeVipManifestFor(kubeVip, { role: 'control-plane', first })!.content);
    expect(p.spec.volumes[0]!.hostPath.path).toBe(hostPath);
    expect(p.spec.containers[0]!.volumeMounts[0]!.mountPath).toBe('/etc/kubernetes/admin.conf');
  });

  it.each([
    ['v1.28.15', true, '/etc/kubernetes/admin.conf'],
    ['v1.29.0', true, '/etc/kubernetes/super-admin.conf'],
    ['v1.35.0', true, '/etc/kubernetes/super-admin.conf'],
    ['v1.35.0', false, '/etc/kubernetes/admin.conf'],
  ])('on %s (runs init: %s) picks %s', (version, runsInit, want) => {
    expect(kubeVipKubeconfig(version, runsInit)).toBe(want);
  });

  it('announces ha.vip when the endpoint is a DNS name, on the endpoint port', () => {
    const s = specOf(
      'controlPlaneEndpoint: {host: api.t.example, port: 8443}\nha: {mode: kube-vip, interface: eth0, vip: 198.18.0.100}',
    );
    const f = kubeVipManifestFor(s, { role: 'control-plane', first: true })!;
    expect(f.path).toBe(KUBE_VIP_MANIFEST_PATH);
    expect(envOf(pod(f.content))).toMatchObject({ address: '198.18.0.100', port: '8443' });
  });

  it('uses a /128 for an IPv6 VIP', () => {
    const p = pod(
      renderKubeVipManifest({
        vip: 'fd00::100',
        interface: 'eth0',
        port: 6443,
        kubeconfig: '/etc/kubernetes/admin.conf',
      }),
    );
    expect(envOf(p)).toMatchObject({ vip_subnet: '128', address: 'fd00::100' });
  });

  it.each([
    ['a worker', kubeVip, 'worker'],
    [
      'an external load balancer',
      specOf('controlPlaneEndpoint: {host: api.t.example}\nha: {mode: external-lb}'),
      'control-plane',
    ],
    ['no HA', specOf('controlPlaneEndpoint: {host: 198.18.0.11}'), 'control-plane'],
  ] as const)('is not written for %s', (_what, s, role) => {
    expect(kubeVipManifestFor(s, { role, first: true })).toBeUndefined();
  });
});
