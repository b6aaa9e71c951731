import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from './parse.js';
import { pickNodeAddress, resolveHostRoles, type EnrolledHost } from './resolve.js';
import { parseCidr } from './cidr.js';

function specOf(text: string): ClusterSpec {
  const r = parseClusterSpec(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const full = specOf(readFileSync(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'), 'utf8'));
const hosts: EnrolledHost[] = [
  { name: 'cp-2', labels: {}, ips: ['198.18.0.12'] },
  { name: 'cp-1', labels: {}, ips: ['198.18.0.11'] },
  { name: 'cp-3', labels: {}, ips: ['198.18.0.13'] },
  { name: 'w-2', labels: { role: 'worker' }, ips: ['198.18.0.22'] },
  { name: 'w-1', labels: { role: 'worker' }, ips: ['198.18.0.21'] },
  { name: 'spare', labels: { role: 'spare' }, ips: ['198.18.0.30'] },
];
const edit = (name: string, change: Partial<EnrolledHost>): EnrolledHost[] =>
  hosts.map((h) => (h.name === name ? { ...h, ...change } : h));

describe('host role resolution', () => {
  it('assigns roles in spec order, label matches in name order, and marks the first control plane', () => {
    const r = resolveHostRoles(full, hosts);
    expect(r.errors).toEqual([]);
    expect(r.assignments.map((a) => `${a.name}:${a.role}${a.first ? '*' : ''}@${a.address}`)).toEqual([
      'cp-1:control-plane*@198.18.0.11',
      'cp-2:control-plane@198.18.0.12',
      'cp-3:control-plane@198.18.0.13',
      'w-1:worker@198.18.0.21',
      'w-2:worker@198.18.0.22',
    ]);
  });

  it('accepts a running cluster: the VIP on the leader and CNI addresses in the pod network', () => {
    const running = hosts.map((h) =>
      h.name === 'cp-1'
        ? { ...h, ips: ['10.244.0.0', '198.18.0.11', '198.18.0.100', '10.244.0.1'] }
        : { ...h, ips: [`10.244.${h.name.length}.0`, ...h.ips] },
    );
    const r = resolveHostRoles(full, running);
    expect(r.errors).toEqual([]);
    expect(r.assignments.map((a) => a.address)).toEqual(
      resolveHostRoles(full, hosts).assignments.map((a) => a.address),
    );
  });

  it.each([
    [
      'a named host that is not enrolled',
      hosts.filter((h) => h.name !== 'cp-3'),
      'hosts[2]',
      /no enrolled host is named "cp-3"/,
    ],
    [
      'a selector that matches nothing',
      hosts.filter((h) => !h.name.startsWith('w-')),
      'hosts[3]',
      /matches no enrolled host/,
    ],
    ['the VIP on a worker', edit('w-1', { ips: ['198.18.0.21', '198.18.0.100'] }), 'ha.vip', /w-1/],
    [
      'a host whose only address is inside the pod network',
      edit('w-2', { ips: ['10.244.3.4'] }),
      'networking.podSubnet',
      /w-2/,
    ],
    [
      'a named address the host does not have',
      edit('cp-1', { ips: ['198.18.0.99'] }),
      'hosts[0].address',
      /198\.18\.0\.99/,
    ],
    [
      'two hosts advertising one address',
      edit('cp-2', { ips: ['198.18.0.11'] }),
      'hosts',
      /both advertise 198\.18\.0\.11/,
    ],
  ])('refuses %s', (_what, enrolled, path, message) => {
    const r = resolveHostRoles(full, enrolled);
    const issue = r.errors.find((e) => e.path === path);
    expect(issue, JSON.stringify(r.errors)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('refuses a host matched by two entries', () => {
    const spec = specOf(
      readFileSync(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'), 'utf8').replace(
        '  - selector: {role: worker}\n',
        '  - selector: {role: worker}\n    role: worker\n  - selector: {role: worker}\n',
      ),
    );
    const r = resolveHostRoles(spec, hosts);
    expect(r.errors.map((e) => e.message)).toEqual([
      'host "w-1" is already chosen by hosts[3]',
      'host "w-2" is already chosen by hosts[3]',
    ]);
  });

  it('warns on an even number of matched control planes and refuses them without HA', () => {
    const spec = specOf(`apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: x
kubernetesVersion: v1.33.1
controlPlaneEndpoint: {host: 198.18.0.11}
hosts:
  - {selector: {role: cp}, role: control-plane}
`);
    const two = [
      { name: 'a', labels: { role: 'cp' }, ips: ['198.18.0.11'] },
      { name: 'b', labels: { role: 'cp' }, ips: ['198.18.0.12'] },
    ];
    const r = resolveHostRoles(spec, two);
    expect(r.warnings.map((w) => w.path)).toEqual(['hosts']);
    expect(r.errors.map((e) => e.path)).toEqual(['ha.mode']);
  });
});

describe('node address choice', () => {
  const networks = [parseCidr('10.96.0.0/12')!, parseCidr('10.244.0.0/16')!];
  it.each([
    ['the first usable IPv4', ['127.0.0.1', '169.254.3.3', '192.168.1.5', '192.168.2.5'], '192.168.1.5'],
    ['IPv4 before IPv6 for an IPv4 service network', ['fd00::5', '192.168.1.5'], '192.168.1.5'],
    ['IPv6 when there is nothing else', ['::1', 'fe80::1', 'fd00::5'], 'fd00::5'],
    ['not the VIP', ['198.18.0.100', '198.18.0.11'], '198.18.0.11'],
    ['not a CNI address', ['10.244.7.0', '10.96.0.1', '198.18.0.11'], '198.18.0.11'],
    ['nothing when only loopback is left', ['127.0.0.1'], undefined],
  ])('picks %s', (_what, ips, want) => {
    expect(pickNodeAddress(ips, { vip: '198.18.0.100', networks })).toBe(want);
  });
});
