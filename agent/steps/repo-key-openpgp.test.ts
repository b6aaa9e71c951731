import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestGpgKey, type TestGpgKey } from '../../test/fixtures/rpm/test-gpg.js';
import { armor, dearmor, normalizeFingerprint, parsePublicKeys } from './repo-key-openpgp.js';

/** Checked against the real gpg: its fingerprints, its --dearmor output, its parsing of our armor. */
describe.each(['ed25519', 'rsa2048'] as const)('OpenPGP key handling (%s key made by gpg)', (algo) => {
  let key: TestGpgKey;
  beforeAll(async () => {
    key = await makeTestGpgKey(algo);
  }, 60_000);
  afterAll(() => key.cleanup());

  it('computes the primary fingerprint gpg prints', () => {
    expect(parsePublicKeys(Buffer.from(key.armored)).primaryFingerprints).toEqual([key.fingerprint]);
  });

  it('de-armors to exactly what gpg --dearmor writes', () => {
    expect(dearmor(key.armored).equals(key.dearmored)).toBe(true);
    expect(parsePublicKeys(Buffer.from(key.armored)).binary.equals(key.dearmored)).toBe(true);
  });

  it('takes a binary key as it is', () => {
    expect(parsePublicKeys(key.dearmored).primaryFingerprints).toEqual([key.fingerprint]);
  });

  it('armors so that gpg reads the same key back', async () => {
    const text = armor(key.dearmored);
    expect(dearmor(text).equals(key.dearmored)).toBe(true);
    const shown = await key.gpg(['--with-colons', '--show-keys'], text);
    expect(shown.stdout).toContain(`fpr:::::::::${key.fingerprint}:`);
  });

  it('refuses secret key material', async () => {
    const secret = await key.gpg([
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--armor',
      '--export-secret-keys',
      key.fingerprint,
    ]);
    expect(() => parsePublicKeys(Buffer.from(secret.stdout))).toThrow(/secret key material/);
    const raw = await key.gpg([
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--export-secret-keys',
      key.fingerprint,
    ]);
    expect(() => parsePublicKeys(Buffer.from(raw.stdout, 'latin1'))).toThrow(/secret key material|not start/);
  });
});

describe('OpenPGP input that is not a public key', () => {
  it.each([
    ['an HTML error page', '<html><body>404</body></html>', /does not start a packet/],
    [
      'an empty armor block',
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n',
      /empty/,
    ],
    ['armor without an end line', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n', /END PGP/],
    ['a truncated packet', Buffer.from([0x99, 0x01, 0x00, 0x04]), /runs past the end/],
  ])('refuses %s', (_name, input, message) => {
    expect(() => parsePublicKeys(Buffer.isBuffer(input) ? input : Buffer.from(input))).toThrow(message);
  });

  it('refuses an armor block whose checksum does not match', () => {
    const good = armor(Buffer.from([0x99, 0x00, 0x01, 0x04]));
    const bad = good.replace(/^=(.{4})$/m, (_m, c: string) => `=${c === 'AAAA' ? 'BBBB' : 'AAAA'}`);
    expect(() => dearmor(bad)).toThrow(/checksum/);
  });

  it('normalizes gpg-style fingerprints', () => {
    expect(normalizeFingerprint('de15 b144 86cd 377b 9e87  6e1a 2346 54da 9a29 6436')).toBe(
      'DE15B14486CD377B9E876E1A234654DA9A296436',
    );
  });
});
