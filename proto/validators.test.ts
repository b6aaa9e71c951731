import { describe, expect, it } from 'vitest';
import {
  FlagValue,
  HttpUrl,
  HttpsUrl,
  OneLineText,
  flagValueProblem,
  isDebianVersion,
  isDns1123Label,
  isDns1123Subdomain,
  isInterfaceName,
  isK8sLabelKey,
  isK8sLabelValue,
  isPreflightErrorName,
  isRpmVersion,
  isSysctlKey,
  isSystemdUnitName,
  urlProblem,
} from './validators.js';
import { EnrollRequest, TokenCreateRequest } from './admin-api.js';

/** What an attacker or a typo puts where a name goes: every grammar below refuses all of them. */
const HOSTILE = [
  '',
  '-y',
  '--allow-unauthenticated',
  '--now.service',
  'a\nb',
  'a\rb',
  'a\u0000b',
  'a\u2028b',
  '$(reboot)',
  '`id`',
  'a b',
  'a;b',
  'kubе', // Cyrillic е
  'ｅｔｈ0', // fullwidth
];

const grammars: Array<[string, (s: string) => boolean, string[], string[]]> = [
  [
    'a DNS-1123 label',
    isDns1123Label,
    ['cni-calico', 'a', '0x', 'a'.repeat(63)],
    ['A', 'a-', '-a', 'a.b', 'a_b', 'a'.repeat(64)],
  ],
  [
    'a DNS-1123 subdomain',
    isDns1123Subdomain,
    ['cp-1', 'k8s-api.example.internal', 'a.b.c'],
    ['a..b', '.a', 'a.', 'A.b', `${'a'.repeat(64)}.b`, 'a/b'],
  ],
  [
    'a Kubernetes label key',
    isK8sLabelKey,
    ['role', 'kctl.dev/pool', 'Node_Pool.x', 'node-role.kubernetes.io/control-plane', 'a'],
    ['/x', 'x/', 'a/b/c', '_x', 'x_', 'x.', 'UPPER.dev/x', 'a'.repeat(64)],
  ],
  [
    'a Kubernetes label value',
    (s) => s !== '' && isK8sLabelValue(s), // the empty value is valid, but not a name
    ['worker', 'v1.31.2', 'A_b-c.d', '0'],
    ['-x', 'x-', 'a/b', 'a=b', 'a'.repeat(64)],
  ],
  [
    'a Debian version',
    isDebianVersion,
    ['1.31.2-1.1', '1:2.3~rc1-0ubuntu1', '1.31.2', '2.0+dfsg-1', '1.0-2-3'],
    ['v1.31.2', 'a1.0', '1.0-', '1:', ':1.0', '1.0_1', '1.0-1_2', 'x'.repeat(129)],
  ],
  [
    'an RPM version',
    isRpmVersion,
    ['1.31.2', '1.31.2-150500.1.1', '2:1.2.3-4.el9', '1.0^git1', 'v1'],
    ['1.0-', '1.0-1-2', '1.0-.1', ':1'],
  ],
  [
    'a systemd unit name',
    isSystemdUnitName,
    ['kubelet.service', 'containerd.service', 'getty@tty1.service', 'fstrim.timer', 'x:y.socket'],
    ['-x.service', '.x.service', 'kubelet', 'kubelet.mount', 'a/b.service', `${'a'.repeat(250)}.service`],
  ],
  [
    'a sysctl key',
    isSysctlKey,
    ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables', 'net.ipv4.conf.all.rp_filter'],
    ['kernel', 'net.-x', 'net..x', 'net/ipv4/ip_forward', '-net.x', 'net.x.'],
  ],
  [
    'an interface name',
    isInterfaceName,
    ['eth0', 'ens3', 'br-lan', 'bond0.100', 'enp0s31f6'],
    ['-eth0', '.', '..', 'eth0:1', 'a/b', 'a'.repeat(16)],
  ],
  [
    'a kubeadm preflight check name',
    isPreflightErrorName,
    ['Port-6443', 'all', 'Swap', 'FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml'],
    ['-Swap', '.all', 'a/b', 'x'.repeat(129)],
  ],
];

describe.each(grammars)('%s', (_name, test, good, bad) => {
  it.each(good)('accepts %j', (s) => expect(test(s)).toBe(true));
  it.each([...bad, ...HOSTILE])('refuses %j', (s) => expect(test(s)).toBe(false));
});

describe('flag values', () => {
  it.each(['30', 'Node,RBAC', '0.0.0.0', '/etc/kubernetes/audit.yaml', 'memory.available<100Mi', ''])(
    'accepts %j',
    (s) => expect(flagValueProblem(s)).toBeUndefined(),
  );
  it.each([
    ['a newline', 'x\n--v=9', /printable ASCII/],
    ['a space, which splits the kubelet environment file', 'x --v=9', /printable ASCII/],
    ['a command substitution', '$(reboot)', /\$\(/],
    ['a quote', 'x"y', /quotes/],
    ['a backslash', 'x\\y', /backslashes/],
    ['a look-alike', 'Nоde', /printable ASCII/],
    ['a control character', 'x\u0007', /printable ASCII/],
  ])('refuses %s', (_what, s, message) => expect(flagValueProblem(s)).toMatch(message));

  it('names the input in the zod message', () => {
    const r = FlagValue.safeParse('$(id)');
    expect(r.error?.issues[0]?.message).toContain('"$(id)"');
  });
});

describe('one-line text', () => {
  it('accepts any script without control characters', () => {
    expect(OneLineText(64).safeParse('Größe – 大きさ').success).toBe(true);
  });
  it.each(['a\nb', 'a\tb', 'a\u0085b', 'a\u2029b'])('refuses %j', (s) => {
    expect(OneLineText(64).safeParse(s).success).toBe(false);
  });
});

describe('URLs', () => {
  it.each([
    'https://mirror.example:5000',
    'http://10.0.0.5:5000/v2',
    'https://[fd00::1]:5000',
    'https://pkgs.example.internal/k8s/',
  ])('accepts %j', (s) => {
    expect(HttpUrl.safeParse(s).success).toBe(true);
  });

  it.each([
    ['an unclosed IPv6 bracket', 'https://[::1', /is not a valid URL/],
    ['a port out of range', 'https://x:99999', /is not a valid URL/],
    ['no host', 'https://', /is not a valid URL|has no host/],
    ['another scheme', 'ftp://x', /must be an https:\/\/ or http:\/\/ URL/],
    ['a space', 'https://x/a b', /printable ASCII/],
    ['a newline', 'https://x/\nevil', /printable ASCII/],
    ['a quote', 'https://x/"]', /printable ASCII/],
    ['a look-alike host', 'https://еxample.com', /printable ASCII/],
    ['credentials', 'https://user:pw@x', /user name or password/],
    ['a fragment', 'https://x/#y', /fragment/],
    ['a relative URL', '/mirror', /is not a valid URL/],
  ])('refuses %s, naming the input', (_what, s, message) => {
    const problem = urlProblem(s, ['https:', 'http:']);
    expect(problem).toMatch(message);
    if (!/printable ASCII/.test(problem ?? '')) expect(problem).toContain(JSON.stringify(s));
  });

  it('HttpsUrl refuses plain http', () => {
    expect(HttpsUrl.safeParse('http://x').error?.issues[0]?.message).toMatch(/must be an https:\/\/ URL/);
  });
});

describe('labels on the way in', () => {
  it.each([
    ['a token', () => TokenCreateRequest.safeParse({ ttlMs: 1000, labels: { pool: 'a\nb' } })],
    ['an enrollment', () => EnrollRequest.safeParse({ labels: { '-pool': 'a' } })],
  ])('%s with a label outside Kubernetes syntax is refused at labels', (_what, parse) => {
    const r = parse();
    expect(r.success).toBe(false);
    expect(r.error?.issues.some((i) => i.path[0] === 'labels')).toBe(true);
  });
});
