import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import { CRI_SOCKET, renderKubeadmInit, renderKubeadmJoin } from './kubeadm.js';
import { renderKubeVipManifest } from './kube-vip.js';
import { needsQuotes, renderYamlDocuments } from './yaml-documents.js';
import type { KubeadmInput } from './types.js';

/** Every document of a render as YAML 1.1 (kubeadm's go-yaml) and 1.2 read it. */
const readBack = (text: string, version: '1.1' | '1.2'): unknown[] =>
  parseAllDocuments(text, { version }).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as unknown;
  });

/** Strings YAML 1.1 reads as bool, null, int, float or timestamp, and a few that 1.2 or Go's strconv do. */
const AMBIGUOUS = [
  'no',
  'No',
  'NO',
  'yes',
  'Yes',
  'on',
  'On',
  'off',
  'OFF',
  'y',
  'Y',
  'n',
  'N',
  'true',
  'False',
  '~',
  'null',
  'Null',
  '',
  '0777',
  '-0777',
  '0b101',
  '0x1f',
  '0o17',
  '1_000',
  '1:20',
  '190:20:30.15',
  '1e3',
  '1E-3',
  '.5',
  '1.',
  '+1',
  '-.inf',
  '.NaN',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '2001-12-14 21:59:43.10 -5',
];
const PLAIN = [
  'cp-1',
  'nope',
  'online',
  '198.18.0.100',
  '1.31.2',
  '10.244.0.0/16',
  ':2112',
  'v1.31.2',
  'yes-please',
];

describe('renderYamlDocuments reads the same in YAML 1.1 and 1.2', () => {
  it.each(AMBIGUOUS)('quotes %j, as a value and as a key', (s) => {
    const text = renderYamlDocuments([{ name: s, list: [s], [s]: 'key' }]);
    expect(text).toContain(`name: ${JSON.stringify(s)}\n`);
    for (const v of ['1.1', '1.2'] as const)
      expect(readBack(text, v), `YAML ${v}`).toEqual([{ name: s, list: [s], [s]: 'key' }]);
  });

  it.each(PLAIN)('leaves %j plain', (s) => {
    expect(needsQuotes(s)).toBe(false);
    expect(renderYamlDocuments([{ name: s }])).toBe(`name: ${s}\n`);
  });

  it('keeps numbers and booleans typed', () => {
    const text = renderYamlDocuments([{ port: 6443, on: true, off: false, none: null }]);
    expect(text).toBe('port: 6443\n"on": true\n"off": false\nnone: null\n');
    expect(readBack(text, '1.1')).toEqual([{ port: 6443, on: true, off: false, none: null }]);
  });

  it('round-trips any string through YAML 1.1 and 1.2 (property)', () => {
    const word = fc.oneof(
      fc.constantFrom(...AMBIGUOUS, ...PLAIN),
      fc.stringMatching(/^[-+.:~0-9a-zA-Z_ ]{0,12}$/),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(word, word, { maxKeys: 5 }),
        fc.array(word, { maxLength: 5 }),
        (map, list) => {
          const doc = { map, list };
          const text = renderYamlDocuments([doc, doc]);
          for (const v of ['1.1', '1.2'] as const) expect(readBack(text, v)).toEqual([doc, doc]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

// parsed YAML read field by field in assertions; the shape is what is under test
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function byKind(docs: unknown[], kind: string): any {
  const d = docs.find((x) => (x as { kind?: unknown }).kind === kind);
  expect(d, kind).toBeDefined();
  return d;
}

/** extraArgs as a map: v1beta4 lists {name, value}, v1beta3 maps names to values */
function args(list: unknown): Record<string, unknown> {
  return Array.isArray(list)
    ? Object.fromEntries((list as Array<{ name: string; value: unknown }>).map((a) => [a.name, a.value]))
    : (list as Record<string, unknown>);
}

describe('kubeadm and kube-vip renders under YAML 1.1 (as kubeadm decodes them)', () => {
  const input: KubeadmInput = {
    kubernetesVersion: 'v1.31.2',
    clusterName: 'no',
    controlPlaneEndpoint: { host: '198.18.0.100', port: 6443 },
    nodeName: 'y',
    advertiseAddress: '198.18.0.11',
    bindPort: 6443,
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    imageRepository: 'registry.k8s.io',
    certSANs: ['on'],
    extraArgs: {
      apiServer: { 'anonymous-auth': 'off', 'audit-log-maxage': '0777' },
      controllerManager: { 'node-monitor-period': '1:20' },
      scheduler: { profiling: 'no' },
      etcd: { 'quota-backend-bytes': '1e3' },
      kubelet: { 'read-only-port': '0x1f', 'node-labels': '2001-12-14' },
    },
    kubeProxyMode: 'iptables',
    kubeVip: true,
    criSocket: CRI_SOCKET,
  };

  it('keeps cluster, node and SAN names and extraArgs values strings', () => {
    const text = renderKubeadmInit(input, {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'a'.repeat(64),
    });
    const docs = readBack(text, '1.1');
    const cluster = byKind(docs, 'ClusterConfiguration');
    const init = byKind(docs, 'InitConfiguration');
    expect(cluster.clusterName).toBe('no');
    expect(cluster.apiServer.certSANs).toContain('on');
    expect(init.nodeRegistration.name).toBe('y');
    expect(args(cluster.apiServer.extraArgs)).toMatchObject({
      'anonymous-auth': 'off',
      'audit-log-maxage': '0777',
    });
    expect(args(cluster.controllerManager.extraArgs)).toMatchObject({ 'node-monitor-period': '1:20' });
    expect(args(cluster.scheduler.extraArgs)).toMatchObject({ profiling: 'no' });
    expect(args(cluster.etcd.local.extraArgs)).toMatchObject({ 'quota-backend-bytes': '1e3' });
    expect(args(init.nodeRegistration.kubeletExtraArgs)).toMatchObject({
      'read-only-port': '0x1f',
      'node-labels': '2001-12-14',
    });
    const join = renderKubeadmJoin(input, {
      token: 'abcdef.0123456789abcdef',
      caCertHashes: [`sha256:${'b'.repeat(64)}`],
      controlPlane: false,
    });
    expect(byKind(readBack(join, '1.1'), 'JoinConfiguration').nodeRegistration.name).toBe('y');
  });

  it('keeps a kube-vip interface named like a YAML 1.1 boolean a string', () => {
    const text = renderKubeVipManifest({
      vip: '198.18.0.100',
      interface: 'on',
      port: 6443,
      firstControlPlane: true,
      kubernetesVersion: 'v1.31.2',
    });
    const pod = parse(text, { version: '1.1' }) as {
      spec: { containers: Array<{ env: Array<{ name: string; value: unknown }> }> };
    };
    expect(pod.spec.containers[0]?.env.find((e) => e.name === 'vip_interface')?.value).toBe('on');
  });
});
