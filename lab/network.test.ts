import { describe, expect, it } from 'vitest';
import { hostLink, isolationProblems, labNatRules } from './network.js';

describe('lab network plan', () => {
  it.each([
    [1, { netns: 'kctl-lab-1', netnsPath: '/run/netns/kctl-lab-1', vethHost: 'kl1', address: '198.18.0.11' }],
    [5, { netns: 'kctl-lab-5', netnsPath: '/run/netns/kctl-lab-5', vethHost: 'kl5', address: '198.18.0.15' }],
    [
      200,
      {
        netns: 'kctl-lab-200',
        netnsPath: '/run/netns/kctl-lab-200',
        vethHost: 'kl200',
        address: '198.18.0.210',
      },
    ],
  ])('host %i gets its namespace, veth and 198.18.0.0/15 address', (index, want) => {
    expect(hostLink(index)).toEqual({ index, ...want });
  });

  it.each([0, 201, 1.5, -1])('host index %s is refused', (index) => {
    expect(() => hostLink(index)).toThrow(/outside 1\.\.200/);
  });

  it('host-side veth names fit the 15-character interface name limit', () => {
    expect(hostLink(200).vethHost.length).toBeLessThanOrEqual(15);
  });
});

describe('lab isolation judgement', () => {
  it.each([
    ['forwarding off everywhere', { ipForward: '0', bridgeForwarding: '0', natRules: [] }, []],
    ['machine forwards but the bridge does not', { ipForward: '1', bridgeForwarding: '0', natRules: [] }, []],
    [
      'bridge forwarding on while the machine forwards',
      { ipForward: '1', bridgeForwarding: '1', natRules: [] },
      ['forwarding is on for kctl-lab0'],
    ],
    [
      'a masquerade rule for the lab subnet',
      { ipForward: '0', bridgeForwarding: '0', natRules: ['-A POSTROUTING -s 198.18.0.0/24 -j MASQUERADE'] },
      ['a NAT rule names the lab: -A POSTROUTING -s 198.18.0.0/24 -j MASQUERADE'],
    ],
  ])('%s', (_name, facts, want) => {
    expect(isolationProblems(facts)).toEqual(want);
  });

  it('NAT rules that do not name the lab are not counted', () => {
    const ruleset = [
      'table ip nat {',
      '  ip saddr 10.0.0.0/8 masquerade',
      '  oifname "kctl-lab0" masquerade',
      '  ip saddr 198.18.0.0/24 accept',
      '}',
      '-A POSTROUTING -s 198.18.0.0/24 -j SNAT --to-source 192.0.2.2',
    ].join('\n');
    expect(labNatRules(ruleset)).toEqual([
      'oifname "kctl-lab0" masquerade',
      '-A POSTROUTING -s 198.18.0.0/24 -j SNAT --to-source 192.0.2.2',
    ]);
  });
});
