import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { HostSpec } from '../../proto/host-spec.js';
import { renderPlan } from '../cli/plan-cmd.js';
import { prepareHostSpec } from '../plan/host-spec.js';
import { parseClusterSpec } from '../spec/parse.js';
import { registryTrustStore, splitPemCertificates, trustName } from './trust-store.js';

const body = 'A'.repeat(100);
const pem = (b: string): string => `-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----`;

describe('registry CAs for the host trust store', () => {
  it('names each file after its registry, one file per certificate, wrapped at 64 columns', () => {
    const out = registryTrustStore({
      'registry.lab:5000': pem(body),
      'quay.example': `${pem('BBBB')}\n${pem('CCCC')}\n`,
    });
    expect(out.trustStore?.certificates.map((c) => c.name)).toEqual([
      'quay.example-1',
      'quay.example-2',
      'registry.lab_5000',
    ]);
    expect(out.trustStore?.certificates[2]?.pem).toBe(
      `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64)}\n${'A'.repeat(36)}\n-----END CERTIFICATE-----\n`,
    );
    // what the controller sends is what the agent accepts
    expect(() =>
      HostSpec.parse({
        hostName: 'h',
        role: 'worker',
        kubernetesVersion: 'v1.31.2',
        kubeProxyMode: 'iptables',
        ...out,
      }),
    ).not.toThrow();
  });

  it('adds nothing without registry CAs', () => {
    expect(registryTrustStore({})).toEqual({});
  });

  it('keeps names to safe file-name characters', () => {
    expect(trustName('Registry.Lab:5000')).toBe('registry.lab_5000');
    expect(splitPemCertificates('no pem here')).toEqual([]);
  });
});

describe('the prepare phase carries registryCAs to the trust store, and kctl plan shows the refresh', () => {
  it('prepareHostSpec of full.yaml has the mirror CA as kctl-<registry>.crt', async () => {
    const r = parseClusterSpec(
      await readFile(new URL('../../test/fixtures/cluster/full.yaml', import.meta.url), 'utf8'),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const spec = prepareHostSpec(r.spec, {
      name: 'cp-1',
      role: 'control-plane',
      first: true,
      address: '10.0.0.1',
    });
    expect(spec.trustStore?.certificates.map((c) => c.name)).toEqual(['mirror.example.internal']);
    expect(HostSpec.parse(spec).trustStore).toEqual(spec.trustStore);
  });

  it('renders the trust-store change in kctl plan', () => {
    const text = renderPlan({
      cluster: 'c',
      planHash: 'sha256:0123456789abcdef0123',
      warnings: [],
      empty: false,
      phases: [
        {
          id: 'prepare',
          title: 'Prepare hosts',
          tasks: [
            {
              taskId: 't',
              host: 'cp-1',
              title: 'converge',
              pending: true,
              detail: '',
              changes: [
                {
                  kind: 'trust-store',
                  program: 'update-ca-certificates',
                  reason: '/etc/ssl/certs/ca-certificates.crt lacks kctl-r.crt',
                },
              ],
            },
          ],
        },
      ],
    });
    expect(text).toContain(
      '~ run update-ca-certificates (/etc/ssl/certs/ca-certificates.crt lacks kctl-r.crt)',
    );
  });
});
