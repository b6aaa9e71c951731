import { describe, expect, it } from 'vitest';
import { scrubArgs, scrubSecrets } from './scrub.js';

const KEY_HEX = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const PEM = [
  '-----BEGIN EC PRIVATE KEY-----',
  'MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oooZ6Ywz5l0CoAoGCCqGSM49',
  '-----END EC PRIVATE KEY-----',
].join('\n');

describe('scrubSecrets (S19)', () => {
  it.each([
    ['a --token value', 'kubeadm join --token abcdef.0123456789abcdef x', 'abcdef.0123456789abcdef'],
    ['a --token=value', 'kubeadm join --token=s3cr3t x', 's3cr3t'],
    ['a --discovery-token value', '--discovery-token zzzzzz', 'zzzzzz'],
    ['a --certificate-key value', '--certificate-key ' + KEY_HEX, KEY_HEX],
    ['a bare bootstrap token', 'use token abcdef.0123456789abcdef now', 'abcdef.0123456789abcdef'],
    ['a bare certificate key', `key: ${KEY_HEX}`, KEY_HEX],
    ['a PEM private key block', `before\n${PEM}\nafter`, 'MHcCAQEEIBkg4LVWM9'],
    ['an RSA PEM block', '-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----', 'QUJD'],
  ])('removes %s', (_what, input, secret) => {
    const out = scrubSecrets(input);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/\[redacted/);
  });

  it.each([
    ['a CA pin', `--discovery-token-ca-cert-hash sha256:${KEY_HEX}`],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----'],
    ['an ordinary error', 'modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.1.0'],
    ['a version', 'kubelet 1.31.2-1.1'],
  ])('keeps %s', (_what, input) => {
    expect(scrubSecrets(input)).toBe(input);
  });

  it('keeps the text around a secret', () => {
    expect(scrubSecrets(`a\n${PEM}\nb --token t c`)).toBe(
      'a\n[redacted private key]\nb --token [redacted] c',
    );
  });
});

describe('scrubArgs', () => {
  it('removes the value after a secret flag, whatever its form, and scrubs the rest', () => {
    expect(
      scrubArgs([
        'join',
        '10.0.0.1:6443',
        '--token',
        'x',
        '--certificate-key',
        'y',
        '--token=z',
        'abcdef.0123456789abcdef',
      ]),
    ).toEqual([
      'join',
      '10.0.0.1:6443',
      '--token',
      '[redacted]',
      '--certificate-key',
      '[redacted]',
      '--token=[redacted]',
      '[redacted token]',
    ]);
  });
});
