import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { HostSpec } from '../../proto/host-spec.js';
import { applySteps, planSteps } from './converge.js';
import { stepsForHostSpec } from './index.js';
import { TRUST_STORE_STEP_ID, pemBodies, trustStoreStep } from './trust-store.js';

const CERT = `-----BEGIN CERTIFICATE-----\n${'QUJD'.repeat(16)}\nREVG\n-----END CERTIFICATE-----\n`;
const DEB_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const EL_BUNDLE = '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem';

/** Stand-ins that rebuild the bundle from the anchors, as the real programs do (re-wrapped for EL, as p11-kit does). */
const REBUILD_DEB = `cat "$KCTL_HOST_ROOT/usr/local/share/ca-certificates/"*.crt > "$KCTL_HOST_ROOT${DEB_BUNDLE}"`;
const REBUILD_EL = `mkdir -p "$KCTL_HOST_ROOT/etc/pki/ca-trust/extracted/pem"; for f in "$KCTL_HOST_ROOT/etc/pki/ca-trust/source/anchors/"*.crt; do echo "# kctl"; sed -e '/CERTIFICATE/!s/.\\{32\\}/&\\n/g' "$f"; done > "$KCTL_HOST_ROOT${EL_BUNDLE}"`;

let t: TempHost | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

describe('trust store step', () => {
  it('on Debian writes kctl-<name>.crt, runs update-ca-certificates once, then has nothing to do', async () => {
    t = await tempHost({
      files: { [DEB_BUNDLE]: '' },
      programs: { 'update-ca-certificates': { script: REBUILD_DEB } },
    });
    const step = trustStoreStep([{ name: 'registry.lab_5000', pem: CERT }]);
    const plan = await step.diff(t.host);
    expect(plan.map((c) => c.kind)).toEqual(['file', 'trust-store']);
    expect(plan[0]).toMatchObject({ path: '/usr/local/share/ca-certificates/kctl-registry.lab_5000.crt' });
    expect(plan[1]).toMatchObject({
      program: 'update-ca-certificates',
      reason: `${DEB_BUNDLE} lacks kctl-registry.lab_5000.crt`,
    });
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    expect(await step.diff(t.host)).toEqual([]);
    expect(await readFile(join(t.root, DEB_BUNDLE), 'utf8')).toContain(CERT);
    expect((await t.calls()).map((c) => c.program)).toEqual(['update-ca-certificates']);
    // idempotent: a second apply runs nothing
    await applySteps(t.host, [step]);
    expect(await t.calls()).toHaveLength(1);
  });

  it('runs the refresh again when the anchor is there but the bundle lacks it (a refresh that failed)', async () => {
    t = await tempHost({
      files: { [DEB_BUNDLE]: '', '/usr/local/share/ca-certificates/kctl-r.crt': CERT },
      programs: { 'update-ca-certificates': { script: REBUILD_DEB } },
    });
    const step = trustStoreStep([{ name: 'r', pem: CERT }]);
    expect((await step.diff(t.host)).map((c) => c.kind)).toEqual(['trust-store']);
    await applySteps(t.host, [step]);
    expect(await step.diff(t.host)).toEqual([]);
  });

  it('on EL writes the anchor and runs update-ca-trust extract; the re-wrapped bundle counts', async () => {
    t = await tempHost({ programs: { 'update-ca-trust': { script: REBUILD_EL } } });
    const step = trustStoreStep([{ name: 'r', pem: CERT }]);
    const [report] = await applySteps(t.host, [step]);
    expect(report?.status).toBe('applied');
    expect(await readFile(join(t.root, '/etc/pki/ca-trust/source/anchors/kctl-r.crt'), 'utf8')).toBe(CERT);
    expect(await t.calls()).toEqual([{ program: 'update-ca-trust', args: ['extract'] }]);
    expect(await step.diff(t.host)).toEqual([]);
  });

  it('fails naming the package when neither program is installed', async () => {
    t = await tempHost();
    const [report] = await applySteps(t.host, [trustStoreStep([{ name: 'r', pem: CERT }])]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toContain('update-ca-certificates nor update-ca-trust');
    expect(report?.error?.details).toMatchObject({ remedy: expect.stringContaining('ca-certificates') });
  });

  it('is one of the host spec steps, shown in the plan', async () => {
    t = await tempHost({ files: { [DEB_BUNDLE]: '' }, programs: { 'update-ca-certificates': {} } });
    const spec = HostSpec.parse({
      hostName: 'h',
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      kubeProxyMode: 'iptables',
      swap: 'keep',
      trustStore: { certificates: [{ name: 'r', pem: CERT }] },
    });
    const plans = await planSteps(
      t.host,
      stepsForHostSpec(spec).filter((s) => s.id === TRUST_STORE_STEP_ID),
    );
    expect(plans).toHaveLength(1);
    expect(plans[0]?.changes.some((c) => c.kind === 'trust-store')).toBe(true);
  });

  it('compares certificates by their DER, not their line wrapping', () => {
    expect(pemBodies(CERT)).toEqual(pemBodies(CERT.replace('QUJDQUJD', 'QUJD\r\n QUJD')));
    expect(pemBodies(CERT)[0]).toHaveLength(68);
  });
});
