import { describe, expect, it } from 'vitest';
import { redactArgv } from './call-log.js';
import { emptyState, type ClusterState } from './cluster-state.js';
import { cniOf } from './cni.js';
import { applyObjects, parseManifest } from './kubectl-apply.js';
import {
  formatGoDuration,
  nthAddress,
  parseCidr,
  parseGoDuration,
  shortHumanDuration,
  splitHostPort,
} from './k8s-values.js';

/** Pure parts of the stand-ins: the API server's view of `kubectl apply`, CNI detection, value grammars, redaction. */

function apply(state: ClusterState, text: string) {
  const parsed = parseManifest(text, 'x.yaml');
  if ('error' in parsed) throw new Error(parsed.error);
  return applyObjects(state, parsed.objects, 'x.yaml', 1000);
}

const DAEMONSET = (name: string, extra = '') => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ${name}, namespace: kube-system}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: main, image: "example/${name}:1"}]
${extra}`;

describe('applyObjects', () => {
  it('creates, then reports unchanged and configured objects as kubectl prints them', () => {
    const state = emptyState();
    expect(apply(state, DAEMONSET('agent')).lines).toEqual(['daemonset.apps/agent created']);
    expect(apply(state, DAEMONSET('agent')).lines).toEqual(['daemonset.apps/agent unchanged']);
    expect(apply(state, DAEMONSET('agent').replace('agent:1', 'agent:2')).lines).toEqual([
      'daemonset.apps/agent configured',
    ]);
  });

  it.each([
    [
      'an object without kind',
      'apiVersion: v1\nmetadata: {name: a}\n',
      'error validating data: [kind not set]',
    ],
    [
      'an object in a namespace that does not exist',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: nowhere}\n',
      'Error from server (NotFound): error when creating "x.yaml": namespaces "nowhere" not found',
    ],
    [
      'a custom resource whose CRD was never applied',
      'apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata: {name: default}\n',
      'no matches for kind "Installation" in version "operator.tigera.io/v1"\nensure CRDs are installed first',
    ],
    [
      'a Deployment at a removed API version',
      'apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: a}\n',
      'no matches for kind "Deployment" in version "apps/v1beta1"',
    ],
    [
      'a DaemonSet without selector and containers',
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: stand-in-cni, namespace: kube-system}\n',
      'DaemonSet.apps "stand-in-cni" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]',
    ],
  ])('refuses %s', (_name, text, message) => {
    const outcome = apply(emptyState(), text);
    expect(outcome.lines).toEqual([]);
    expect(outcome.errors.join('\n')).toContain(message);
  });

  it('lets a Namespace earlier in the file serve later objects, but a CRD only serves later commands', () => {
    const state = emptyState();
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: installations.operator.tigera.io}
spec:
  group: operator.tigera.io
  scope: Cluster
  names: {kind: Installation, plural: installations}
  versions: [{name: v1, served: true, storage: true}]
`;
    const cr = 'apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata: {name: default}\n';
    const first = apply(
      state,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: tigera-operator}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: op, namespace: tigera-operator}\n---\n${crd}---\n${cr}`,
    );
    expect(first.lines).toEqual([
      'namespace/tigera-operator created',
      'serviceaccount/op created',
      'customresourcedefinition.apiextensions.k8s.io/installations.operator.tigera.io created',
    ]);
    expect(first.errors.join('')).toContain('ensure CRDs are installed first');
    const second = apply(state, cr);
    expect(second.lines).toEqual(['installation.operator.tigera.io/default created']);
    expect(second.cni).toBe('calico');
  });
});

describe('cniOf', () => {
  it.each([
    [
      'a DaemonSet writing /etc/cni/net.d',
      DAEMONSET('netd', '      volumes: [{name: c, hostPath: {path: /etc/cni/net.d}}]\n'),
      'netd',
    ],
    ['calico-node', DAEMONSET('calico-node'), 'calico'],
    ['a DaemonSet named like a CNI', DAEMONSET('stand-in-cni'), 'stand-in-cni'],
    ['an unrelated DaemonSet', DAEMONSET('node-exporter'), undefined],
  ])('recognises %s', (_name, text, cni) => {
    const parsed = parseManifest(text, 'x.yaml');
    if ('error' in parsed) throw new Error(parsed.error);
    expect(cniOf(parsed.objects[0]!)).toBe(cni);
  });
});

describe('value grammars', () => {
  it.each([
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['0', 0],
    ['1.5s', 1500],
    ['24h0m0s', 86_400_000],
    ['30', undefined],
    ['1d', undefined],
  ])('parses the Go duration %s', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each([
    [86_400_000, '24h0m0s'],
    [240_000, '4m0s'],
    [1500, '1.5s'],
  ])('formats %d ms as Go does', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it('shortens TTLs as kubeadm token list prints them', () => {
    expect([59_000, 3_540_000, 82_800_000, 3 * 86_400_000].map(shortHumanDuration)).toEqual([
      '59s',
      '59m',
      '23h',
      '3d',
    ]);
  });

  it.each([
    ['10.96.0.0/12', 1, '10.96.0.1'],
    ['10.96.0.0/12', 10, '10.96.0.10'],
    ['fd00:10:96::/112', 10, 'fd00:10:96::a'],
  ])('takes address %s + %d', (cidr, n, ip) => {
    expect(nthAddress(parseCidr(cidr)!, n)).toBe(ip);
  });

  it('splits host:port like Go, including bracketed IPv6', () => {
    expect(splitHostPort('10.0.0.1:6443')).toEqual({ host: '10.0.0.1', port: 6443 });
    expect(splitHostPort('[fd00::1]:6443')).toEqual({ host: 'fd00::1', port: 6443 });
    expect(splitHostPort('cp.example')).toEqual({ host: 'cp.example', port: undefined });
  });
});

describe('redactArgv', () => {
  it('hides bootstrap tokens and certificate keys but keeps CA hashes', () => {
    const key = 'a'.repeat(64);
    const hash = `sha256:${'b'.repeat(64)}`;
    expect(
      redactArgv([
        'token',
        'create',
        'abcdef.0123456789abcdef',
        '--certificate-key',
        key,
        '--discovery-token-ca-cert-hash',
        hash,
        `--token=abcdef.0123456789abcdef`,
      ]),
    ).toEqual([
      'token',
      'create',
      '[redacted]',
      '--certificate-key',
      '[redacted]',
      '--discovery-token-ca-cert-hash',
      hash,
      '--token=[redacted]',
    ]);
  });
});
