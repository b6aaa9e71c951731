import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../store/store.js';
import { parseClusterSpec } from '../../spec/parse.js';
import { resolveCluster } from '../resolved-cluster.js';
import type { HostObservation, Observation } from '../observe.js';
import type { PlanningContext } from '../phase.js';
import { phaseRecord } from './index.js';

const HOSTS = ['cp-1', 'w-1'];

/** A fresh two-host cluster from the documented cluster.yaml with its `cni:` block replaced. */
function context(cni: string, manifest: string | undefined): PlanningContext {
  const text = readFileSync('test/fixtures/cluster/full.yaml', 'utf8')
    .replace(/cni:\n(?: {2}.*\n)+/, `cni:\n${cni}`)
    .replace(/ {2}- name: cp-2\n.*\n {2}- name: cp-3\n.*\n/, '');
  const parsed = parseClusterSpec(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const store = {
    listHosts: () =>
      HOSTS.map((name, i) => ({
        id: `id-${name}`,
        name,
        labels: name.startsWith('w-') ? { role: 'worker' } : {},
        state: 'active',
        facts: { ips: [`198.18.0.${11 + i}`], kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  const cluster = resolveCluster({ store }, parsed.spec, manifest);
  const hosts = new Map<string, HostObservation>(
    HOSTS.map((h) => [
      h,
      {
        state: { initialized: false, joined: false, kubeletVersion: null, controlPlaneVersion: null },
        prepareVersion: parsed.spec.kubernetesVersion,
        prepare: [],
      },
    ]),
  );
  const observed: Observation = { hosts, nodes: undefined, adminHost: undefined };
  return { cluster, observed };
}

describe('the CNI phase', () => {
  it("applies kctl's Calico template, with the cluster's podSubnet, when cluster.yaml names no manifest", () => {
    const [task, ...more] = phaseRecord('cni').tasks(
      context('  plugin: calico\n  calico:\n    ipAutodetectionMethod: interface=eth0\n', undefined),
    );
    expect(more).toEqual([]);
    expect(task?.host).toBe('cp-1');
    expect(task?.detail).toBe(
      "kubectl apply calico v3.28.2 (kctl's template: podSubnet 10.244.0.0/16, MTU auto)",
    );
    const manifest = (task?.input as { manifest: string } | undefined)?.manifest;
    expect(manifest).toContain('value: 10.244.0.0/16');
    expect(manifest).toContain('value: interface=eth0');
  });

  it('applies flannel from its template too', () => {
    const [task] = phaseRecord('cni').tasks(context('  plugin: flannel\n  mtu: 1400\n', undefined));
    expect(task?.detail).toBe(
      "kubectl apply flannel v0.26.7 (kctl's template: podSubnet 10.244.0.0/16, MTU 1400)",
    );
    expect((task?.input as { manifest: string } | undefined)?.manifest).toContain(
      '"Network": "10.244.0.0/16"',
    );
  });

  it('applies a user-supplied manifest as given', () => {
    const [task] = phaseRecord('cni').tasks(
      context('  plugin: calico\n  manifest: calico.yaml\n  version: v3.28.2\n', 'kind: List\n'),
    );
    expect(task?.input).toEqual({ plugin: 'calico', manifest: 'kind: List\n' });
    expect(task?.detail).toBe('kubectl apply calico v3.28.2 (cni.manifest calico.yaml)');
  });

  it('applies nothing for plugin none', () => {
    expect(phaseRecord('cni').tasks(context('  plugin: none\n', undefined))).toEqual([]);
  });
});
