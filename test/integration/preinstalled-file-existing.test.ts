import { afterEach, describe, expect, it } from 'vitest';
import { binaryChecks } from '../../agent/checks/binaries.js';
import { toCheckResult } from '../../agent/checks/index.js';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { FIXED_BY_PREPARE, preflightSpecFor } from '../../controller/plan/resolved-cluster.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';

/**
 * Issue 14 leftover: with packages.source preinstalled prepare installs nothing, so kubeadm's
 * FileExisting checks (conntrack, iptables, socat ...) must run for real in apply's preflight: a
 * golden image without them fails there, not half-way through kubeadm init.
 */
const spec = (packages: object) =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.100' },
    packages,
    hosts: [{ name: 'cp-1', role: 'control-plane' }],
  });
const cp1 = { name: 'cp-1', role: 'control-plane' as const, first: true, address: undefined };

const hosts: TempHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.cleanup()));
});

/** Every FileExisting check on a host whose PATH holds only `present`, judged with apply's ignore list. */
async function fileExisting(packages: object, present: string[]) {
  const t = await tempHost({ programs: Object.fromEntries(present.map((p) => [p, {}])) });
  hosts.push(t);
  const { ignore } = preflightSpecFor(spec(packages), cp1);
  const out = new Map<string, { status: string; ignored: boolean }>();
  for (const check of binaryChecks()) {
    const r = toCheckResult(check, await check.run({ host: t.host } as never), ignore);
    out.set(check.id, { status: r.status, ignored: r.ignored === true });
  }
  return { ignore, results: out };
}

describe('FileExisting checks with packages.source preinstalled', () => {
  it('apply does not skip them: a missing conntrack or iptables fails preflight', async () => {
    const { ignore, results } = await fileExisting({ source: 'preinstalled' }, ['ip', 'mount', 'nsenter']);
    expect(ignore?.filter((id) => id.startsWith('FileExisting-'))).toEqual([]);
    // the other fixed-by-prepare checks (CRI, Swap, ...) stay skipped: prepare still configures those
    expect(ignore).toContain('Swap');
    expect(results.get('FileExisting-conntrack')).toEqual({ status: 'fail', ignored: false });
    expect(results.get('FileExisting-iptables')).toEqual({ status: 'fail', ignored: false });
    expect(results.get('FileExisting-ip')).toEqual({ status: 'pass', ignored: false });
    // kubeadm's warning-severity ones stay warnings
    expect(results.get('FileExisting-socat')).toEqual({ status: 'warn', ignored: false });
  });

  it('passes on a preinstalled image that has every program', async () => {
    const all = binaryChecks().map((c) => c.id.slice('FileExisting-'.length));
    const { results } = await fileExisting({ source: 'preinstalled' }, all);
    for (const [id, r] of results) expect(r, id).toEqual({ status: 'pass', ignored: false });
  });

  it.each([{ source: 'upstream' }, { source: 'bundle' }])(
    'are still skipped when prepare installs the packages (packages.source $source)',
    async (packages) => {
      const { ignore, results } = await fileExisting(packages, []);
      expect(ignore).toEqual(FIXED_BY_PREPARE);
      expect(results.get('FileExisting-conntrack')).toEqual({ status: 'warn', ignored: true });
    },
  );
});
