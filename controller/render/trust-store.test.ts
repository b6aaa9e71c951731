import { describe, expect, it } from 'vitest';
import { HostSpec } from '../../proto/host-spec.js';
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
