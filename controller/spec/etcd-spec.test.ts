import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from './parse.js';
import { resolveHostRoles } from './resolve.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/cluster');
const base = `apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: demo
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: api.example.internal}
ha: {mode: external-lb}
`;
const CERT = '"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"';
const KEY = '"-----BEGIN EC PRIVATE KEY-----\\nMHc\\n-----END EC PRIVATE KEY-----\\n"';
const external = (endpoints: string, key = KEY): string =>
  `etcd: {mode: external, endpoints: ${endpoints}, caCert: ${CERT}, clientCert: ${CERT}, clientKey: ${key}}\n`;
const cps = 'hosts:\n  - {name: cp-1, role: control-plane}\n';
const member = (n: number): string => `  - {name: etcd-${n}, role: etcd}\n`;

describe('cluster.yaml etcd', () => {
  it('defaults to stacked etcd', () => {
    const r = parseClusterSpec(base + cps);
    expect(r.ok && r.spec.etcd).toEqual({ mode: 'stacked' });
  });

  it('reads managed etcd with three etcd hosts and no warning about them', () => {
    const r = parseClusterSpec(readFileSync(join(FIXTURES, 'etcd-managed.yaml'), 'utf8'));
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.spec.etcd.mode).toBe('managed');
    expect(r.spec.hosts.filter((h) => h.role === 'etcd').map((h) => h.name)).toEqual([
      'etcd-1',
      'etcd-2',
      'etcd-3',
    ]);
    // two control planes are no etcd quorum question when etcd runs elsewhere
    expect(r.warnings).toEqual([]);
  });

  it('reads external etcd with its endpoints and credentials', () => {
    const r = parseClusterSpec(base + external('[https://10.0.0.21:2379, https://10.0.0.22:2379]') + cps);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok || r.spec.etcd.mode !== 'external') return;
    expect(r.spec.etcd.endpoints).toEqual(['https://10.0.0.21:2379', 'https://10.0.0.22:2379']);
    expect(r.spec.etcd.clientKey).toMatch(/EC PRIVATE KEY/);
  });

  it('warns about an even number of etcd members', () => {
    const r = parseClusterSpec(base + 'etcd: {mode: managed}\n' + cps + member(1) + member(2));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([{ path: 'hosts', message: expect.stringMatching(/2 etcd members/) }]);
  });

  it.each([
    ['managed etcd without etcd hosts', base + 'etcd: {mode: managed}\n' + cps, 'hosts', /role etcd/],
    ['an etcd host with stacked etcd', base + cps + member(1), 'hosts[1].role', /etcd.mode managed/],
    [
      'an etcd host with external etcd',
      base + external('[https://10.0.0.21:2379]') + cps + member(1),
      'hosts[1].role',
      /external/,
    ],
    ['an http endpoint', base + external('[http://10.0.0.21:2379]') + cps, 'etcd.endpoints[0]', /https/],
    ['no endpoint', base + external('[]') + cps, 'etcd.endpoints', /1/],
    [
      'a duplicate endpoint',
      base + external('[https://10.0.0.21:2379, https://10.0.0.21:2379]') + cps,
      'etcd.endpoints[1]',
      /twice/,
    ],
    [
      'a key that is no PEM key',
      base + external('[https://a:2379]', '"secret"') + cps,
      'etcd.clientKey',
      /PEM/,
    ],
    [
      'a truncated key',
      base + external('[https://a:2379]', '"-----BEGIN PRIVATE KEY-----\\nMHc"') + cps,
      'etcd.clientKey',
      /complete PEM/,
    ],
    [
      'external etcd without credentials',
      base + 'etcd: {mode: external, endpoints: [https://a:2379]}\n' + cps,
      'etcd.caCert',
      /./,
    ],
    ['an unknown etcd mode', base + 'etcd: {mode: local}\n' + cps, 'etcd.mode', /./],
  ])('refuses %s', (_name, text, path, message) => {
    const r = parseClusterSpec(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const hit = r.errors.find((e) => e.path === path);
    expect(hit, JSON.stringify(r.errors)).toBeDefined();
    expect(hit?.message).toMatch(message);
  });

  it('resolves etcd hosts as members, not as Kubernetes nodes', () => {
    const r = parseClusterSpec(readFileSync(join(FIXTURES, 'etcd-managed.yaml'), 'utf8'));
    if (!r.ok) throw new Error('fixture does not parse');
    const enrolled = ['etcd-1', 'etcd-2', 'etcd-3', 'cp-1', 'cp-2', 'worker-1'].map((name, i) => ({
      name,
      labels: {},
      ips: [i < 3 ? `198.18.0.${21 + i}` : `198.18.0.${11 + i}`],
    }));
    const res = resolveHostRoles(r.spec, enrolled);
    expect(res.errors).toEqual([]);
    expect(res.assignments.map((a) => [a.name, a.role])).toEqual([
      ['cp-1', 'control-plane'],
      ['cp-2', 'control-plane'],
      ['worker-1', 'worker'],
    ]);
    expect(res.etcdMembers).toEqual([
      { name: 'etcd-1', address: '198.18.0.21' },
      { name: 'etcd-2', address: '198.18.0.22' },
      { name: 'etcd-3', address: '198.18.0.23' },
    ]);
    expect(res.warnings).toEqual([]);
  });
});

describe('etcd.clientKey in logs', () => {
  it('is redacted when a parsed spec is logged whole (S19)', async () => {
    const { pino } = await import('pino');
    const { loggerBase } = await import('../../proto/json-logger.js');
    const r = parseClusterSpec(base + external('[https://10.0.0.21:2379]') + cps);
    if (!r.ok) throw new Error('does not parse');
    const lines: string[] = [];
    const log = pino(loggerBase('test'), { write: (l: string) => void lines.push(l) });
    log.info({ spec: r.spec }, 'spec');
    log.info({ etcd: r.spec.etcd }, 'etcd');
    log.info(r.spec.etcd, 'flat');
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l).not.toContain('PRIVATE KEY');
      expect(l).toContain('[redacted]');
    }
  });
});
