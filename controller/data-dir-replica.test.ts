import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KctlError } from '../proto/errors.js';
import { initDataDir, loadDataDir } from './data-dir.js';

/** A second controller replica initialised with the first one's CA (issue 16): one pin for the fleet. */
describe('kctl controller init --ca-from', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'kctl-replica-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const codeOf = async (p: Promise<unknown>): Promise<KctlError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof KctlError)) throw new Error(`expected a KctlError, got ${String(err)}`);
    return err;
  };

  it("serves under the first replica's CA pin with a serving certificate of its own", async () => {
    const a = await initDataDir({ dir: join(root, 'a'), listen: '198.18.0.1:7443', sans: [] });
    const b = await initDataDir({
      dir: join(root, 'b'),
      listen: '198.18.0.2:7443',
      sans: [],
      caFrom: join(root, 'a'),
    });
    expect(b.caPin).toBe(a.caPin);
    expect(b.advertiseUrl).toBe('https://198.18.0.2:7443');
    const [fa, fb] = await Promise.all([loadDataDir(join(root, 'a')), loadDataDir(join(root, 'b'))]);
    const serverB = new X509Certificate(fb.server.certPem);
    expect(serverB.verify(new X509Certificate(fa.ca.certPem).publicKey)).toBe(true);
    expect(serverB.subjectAltName).toContain('IP Address:198.18.0.2');
    expect(fb.server.certPem).not.toBe(fa.server.certPem);
    expect((await stat(join(root, 'b', 'ca.key'))).mode & 0o777).toBe(0o600);
    // a second init with the same CA changes nothing
    const again = await initDataDir({
      dir: join(root, 'b'),
      listen: '198.18.0.2:7443',
      sans: [],
      caFrom: join(root, 'a'),
    });
    expect(again.created).toBe(false);
  });

  it('refuses a key that is not the certificate’s, a missing file, and a dir that holds another CA, naming them', async () => {
    await initDataDir({ dir: join(root, 'a'), listen: '127.0.0.1:7443', sans: [] });
    await initDataDir({ dir: join(root, 'c'), listen: '127.0.0.1:7444', sans: [] });
    const mixed = join(root, 'mixed');
    await mkdir(mixed);
    await copyFile(join(root, 'a', 'ca.crt'), join(mixed, 'ca.crt'));
    await copyFile(join(root, 'c', 'ca.key'), join(mixed, 'ca.key'));
    const wrongKey = await codeOf(
      initDataDir({ dir: join(root, 'x'), listen: '127.0.0.1:1', sans: [], caFrom: mixed }),
    );
    expect(wrongKey.message).toMatch(
      /--ca-from: .*ca\.crt.* and .*ca\.key.* are not a CA and its key: the key does not belong/,
    );
    expect(wrongKey.message).not.toContain('PRIVATE KEY');

    const noKey = join(root, 'nokey');
    await mkdir(noKey);
    await copyFile(join(root, 'a', 'ca.crt'), join(noKey, 'ca.crt'));
    const missing = await codeOf(
      initDataDir({ dir: join(root, 'y'), listen: '127.0.0.1:1', sans: [], caFrom: noKey }),
    );
    expect(missing.message).toContain(`cannot read "${join(noKey, 'ca.key')}": ENOENT`);

    const other = await codeOf(
      initDataDir({ dir: join(root, 'c'), listen: '127.0.0.1:7444', sans: [], caFrom: join(root, 'a') }),
    );
    expect(other.message).toMatch(/already holds a controller CA .* that is not the CA in/);
    // nothing was written for the refused ones
    await expect(readFile(join(root, 'x', 'ca.key'))).rejects.toThrow();
  });
});
