import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancerCheckSpec, PreflightSpec } from '../../proto/checks.js';
import { LocalHost } from '../host/local-host.js';
import { httpsNet } from '../host/https-net.js';
import { tcpAnswers } from '../host/address-probe.js';
import { TEST_BIN, tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { preflightChecks, runPreflight } from './index.js';
import {
  arpHolder,
  judgeNonlocalBind,
  judgeVipFree,
  judgeVrrpLink,
  loadBalancerChecks,
  parseAddrShow,
  parseRouteGet,
} from './load-balancer.js';

const LB: LoadBalancerCheckSpec = {
  vip: '198.18.0.100',
  interface: 'eth0',
  address: '198.18.0.31',
  peers: ['198.18.0.32'],
  port: 6443,
  vipMustBeFree: true,
  bindsVip: true,
};
const SPEC: PreflightSpec = {
  role: 'worker',
  kubernetesVersion: 'v1.31.2',
  isFirstControlPlane: false,
  kubeProxyMode: 'iptables',
  only: 'load-balancer',
  loadBalancer: LB,
};
const ARP_HEADER = 'IP address       HW type     Flags       HW address            Mask     Device\n';
const arpLine = (ip: string, flags: string, mac: string): string =>
  `${ip.padEnd(17)}0x1         ${flags}         ${mac}     *        eth0\n`;

describe('VIP-Free judgement', () => {
  it.each([
    [
      'passes when nothing answered',
      { local: false, tcp: false, arp: undefined },
      'pass',
      'no answer from 198.18.0.100',
    ],
    [
      "fails when the VIP is this host's address",
      { local: true, tcp: false, arp: undefined },
      'fail',
      'already an address of this host',
    ],
    [
      'fails when a TCP connection was answered',
      { local: false, tcp: true, arp: undefined },
      'fail',
      '198.18.0.100:6443 was answered',
    ],
    [
      'fails when a host answered ARP (a firewall dropped the SYN)',
      { local: false, tcp: false, arp: { mac: '52:54:00:aa:bb:cc', device: 'eth0' } },
      'fail',
      '52:54:00:aa:bb:cc answered ARP for it on eth0',
    ],
  ] as const)('%s', (_name, found, status, observed) => {
    const r = judgeVipFree(LB, found);
    expect(r.status).toBe(status);
    expect(r.observed).toContain(observed);
    if (status === 'fail') expect(r.remedy).toContain('ha.vip');
  });
});

describe('arpHolder', () => {
  it.each([
    [
      'a complete entry',
      arpLine('198.18.0.100', '0x2', '52:54:00:aa:bb:cc'),
      { mac: '52:54:00:aa:bb:cc', device: 'eth0' },
    ],
    ['an incomplete entry (nobody answered)', arpLine('198.18.0.100', '0x0', '00:00:00:00:00:00'), undefined],
    ['another address only', arpLine('198.18.0.101', '0x2', '52:54:00:aa:bb:cc'), undefined],
    [
      'a permanent complete entry',
      arpLine('198.18.0.100', '0x6', '52:54:00:aa:bb:dd'),
      { mac: '52:54:00:aa:bb:dd', device: 'eth0' },
    ],
  ])('reads %s', (_name, line, want) => {
    expect(arpHolder(ARP_HEADER + line, '198.18.0.100')).toEqual(want);
  });
});

describe('VRRP-Link judgement', () => {
  const direct = (target: string) => ({ target, dev: 'eth0', gateway: undefined, prefsrc: '198.18.0.31' });
  it.each([
    [
      'passes with every peer and the VIP on the link',
      {
        interfaceExists: true,
        addresses: ['198.18.0.31'],
        routes: [direct('198.18.0.32'), direct('198.18.0.100')],
      },
      'pass',
      '198.18.0.32, 198.18.0.100 reached directly on eth0',
    ],
    [
      'fails when the interface does not exist',
      { interfaceExists: false, addresses: [], routes: [] },
      'fail',
      'interface eth0 does not exist',
    ],
    [
      'fails when the host address is on another interface',
      { interfaceExists: true, addresses: ['10.0.0.5'], routes: [] },
      'fail',
      '198.18.0.31 is not an address of eth0 (it has 10.0.0.5)',
    ],
    [
      'fails when a peer is behind a router',
      {
        interfaceExists: true,
        addresses: ['198.18.0.31'],
        routes: [{ target: '10.9.0.32', dev: 'eth0', gateway: '198.18.0.1', prefsrc: '198.18.0.31' }],
      },
      'fail',
      '10.9.0.32 via 198.18.0.1 on eth0',
    ],
    [
      'fails when a peer is reached on another interface',
      {
        interfaceExists: true,
        addresses: ['198.18.0.31'],
        routes: [{ target: '198.19.0.32', dev: 'eth1', gateway: undefined, prefsrc: '198.19.0.31' }],
      },
      'fail',
      '198.19.0.32 via the link on eth1',
    ],
    [
      'fails when a peer has no route',
      {
        interfaceExists: true,
        addresses: ['198.18.0.31'],
        routes: [{ target: '198.18.0.32', dev: undefined, gateway: undefined, prefsrc: undefined }],
      },
      'fail',
      '198.18.0.32: no route',
    ],
  ])('%s', (_name, found, status, observed) => {
    const r = judgeVrrpLink(LB, found);
    expect(r.status).toBe(status);
    expect(r.observed).toContain(observed);
    if (status === 'fail') expect(r.remedy).not.toBe('');
  });

  it('reads ip -j route get and ip -j addr show', () => {
    expect(
      parseRouteGet(
        '10.9.0.32',
        '[{"dst":"10.9.0.32","gateway":"198.18.0.1","dev":"eth0","prefsrc":"198.18.0.31","flags":[],"uid":0,"cache":[]}]',
      ),
    ).toEqual({ target: '10.9.0.32', dev: 'eth0', gateway: '198.18.0.1', prefsrc: '198.18.0.31' });
    expect(parseRouteGet('x', 'not json')).toEqual({
      target: 'x',
      dev: undefined,
      gateway: undefined,
      prefsrc: undefined,
    });
    expect(
      parseAddrShow(
        '[{"ifname":"eth0","addr_info":[{"family":"inet","local":"198.18.0.31","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]',
      ),
    ).toEqual(['198.18.0.31', 'fe80::1']);
  });
});

describe('ip_nonlocal_bind', () => {
  it.each([
    ['1', 'pass', '= 1'],
    ['0', 'pass', 'kctl sets 1'],
    [undefined, 'fail', 'does not exist'],
  ] as const)('value %s -> %s', (value, status, observed) => {
    const r = judgeNonlocalBind('net.ipv4.ip_nonlocal_bind', value);
    expect(r.status).toBe(status);
    expect(r.observed).toContain(observed);
  });
});

describe('which checks run', () => {
  it('runs only the load balancer checks with only: load-balancer', () => {
    expect(preflightChecks(SPEC).map((c) => c.id)).toEqual([
      'VIP-Free',
      'VRRP-Link',
      'Sysctl-ip_nonlocal_bind',
    ]);
  });

  it("adds them to kubeadm's checks on a control plane, without the sysctl (HAProxy binds every address there)", () => {
    const spec: PreflightSpec = {
      role: 'control-plane',
      kubernetesVersion: 'v1.31.2',
      isFirstControlPlane: true,
      kubeProxyMode: 'iptables',
      loadBalancer: { ...LB, bindsVip: false },
    };
    const ids = preflightChecks(spec).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['Port-10250', 'VIP-Free', 'VRRP-Link']));
    expect(ids).not.toContain('Sysctl-ip_nonlocal_bind');
  });

  it('has none without ha.mode haproxy-keepalived', () => {
    expect(loadBalancerChecks({ ...SPEC, loadBalancer: undefined })).toEqual([]);
  });
});

/** `ip` for the temp host: addresses of eth0, and a direct route on eth0 to everything but 10.9.*. */
const IP_SCRIPT = `
if [ "$2" = addr ]; then printf '%s' '[{"ifname":"eth0","addr_info":[{"local":"198.18.0.31","prefixlen":24}]}]'; exit 0; fi
case "$4" in
  10.9.*) printf '[{"dst":"%s","gateway":"198.18.0.1","dev":"eth0","prefsrc":"198.18.0.31"}]' "$4" ;;
  *) printf '[{"dst":"%s","dev":"eth0","prefsrc":"198.18.0.31"}]' "$4" ;;
esac
exit 0
`;

describe('the load balancer checks on a host', () => {
  let t: TempHost | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  async function hostWith(arp: string, answers: boolean, nonlocal = '0\n'): Promise<LocalHost> {
    t = await tempHost({
      files: {
        '/proc/net/fib_trie': '',
        '/proc/net/if_inet6': '',
        '/proc/net/arp': ARP_HEADER + arp,
        '/proc/sys/net/ipv4/ip_nonlocal_bind': nonlocal,
        '/sys/class/net/eth0/address': '52:54:00:00:00:31\n',
      },
      programs: { ip: { script: IP_SCRIPT } },
    });
    // the VIP probe answers as told: tests send nothing to non-local addresses
    const net = { ...httpsNet, answers: () => Promise.resolve(answers) };
    return new LocalHost({ root: t.root, programPath: [join(t.root, TEST_BIN)], net });
  }

  it('passes on a free VIP with the peer on the link', async () => {
    const host = await hostWith('', false);
    const r = await runPreflight(host, SPEC);
    expect(r.map((x) => [x.id, x.status])).toEqual([
      ['VIP-Free', 'pass'],
      ['VRRP-Link', 'pass'],
      ['Sysctl-ip_nonlocal_bind', 'pass'],
    ]);
  });

  it('fails VIP-Free when a host on the link answered ARP for the VIP', async () => {
    const host = await hostWith(arpLine('198.18.0.100', '0x2', '52:54:00:aa:bb:cc'), false);
    const r = await runPreflight(host, SPEC);
    expect(r.find((x) => x.id === 'VIP-Free')).toMatchObject({ status: 'fail', severity: 'error' });
  });

  it('skips VIP-Free once a keepalived of the cluster may hold the VIP', async () => {
    const host = await hostWith('', true);
    const r = await runPreflight(host, { ...SPEC, loadBalancer: { ...LB, vipMustBeFree: false } });
    expect(r.find((x) => x.id === 'VIP-Free')?.status).toBe('skip');
  });

  it('fails VRRP-Link when a peer is behind a router', async () => {
    const host = await hostWith('', false);
    const r = await runPreflight(host, { ...SPEC, loadBalancer: { ...LB, peers: ['10.9.0.32'] } });
    expect(r.find((x) => x.id === 'VRRP-Link')).toMatchObject({
      status: 'fail',
      observed: expect.stringContaining('10.9.0.32 via 198.18.0.1 on eth0'),
    });
  });

  it('fails VRRP-Link when ha.interface does not exist on the host', async () => {
    const host = await hostWith('', false);
    const r = await runPreflight(host, { ...SPEC, loadBalancer: { ...LB, interface: 'ens3' } });
    expect(r.find((x) => x.id === 'VRRP-Link')?.observed).toBe('interface ens3 does not exist on this host');
  });
});

describe('tcpAnswers (loopback only)', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it('is true for an accepted connection and for a refused one, both of which a host sent', async () => {
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await tcpAnswers('127.0.0.1', port, 1000)).toBe(true);
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(await tcpAnswers('127.0.0.1', port, 1000)).toBe(true);
  });
});
