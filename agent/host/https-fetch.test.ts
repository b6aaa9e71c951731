import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpsMirror, type HttpsMirror } from '../../test/fixtures/rpm/https-mirror.js';
import { fetchHttps } from './https-fetch.js';

/** Against a TEST SCAFFOLDING HTTPS server on 127.0.0.1 with its own CA. */
let dir: string;
let mirror: HttpsMirror;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kctl-fetch-'));
  mirror = await startHttpsMirror(dir);
  mirror.files.set('/key', 'KEY');
  mirror.files.set('/big', Buffer.alloc(4096, 1));
  mirror.redirects.set('/hop', `${mirror.url}/key`);
  mirror.redirects.set('/loop', `${mirror.url}/loop`);
  mirror.redirects.set('/plain', 'http://127.0.0.1:1/key');
}, 30_000);
afterAll(async () => {
  await mirror.close();
  await rm(dir, { recursive: true, force: true });
});

describe('fetchHttps', () => {
  it('follows an https redirect and returns the body', async () => {
    expect((await fetchHttps(`${mirror.url}/hop`, { ca: mirror.pki.caCertPem })).toString()).toBe('KEY');
  });

  it.each([
    ['a redirect to plain http', '/plain', {}, /is not an https URL/],
    ['a redirect loop', '/loop', {}, /more than 5 redirects/],
    ['a body over the cap', '/big', { maxBytes: 1024 }, /more than 1024 bytes/],
    ['a 404', '/missing', {}, /HTTP 404/],
  ])('refuses %s', async (_what, path, extra, message) => {
    await expect(fetchHttps(`${mirror.url}${path}`, { ca: mirror.pki.caCertPem, ...extra })).rejects.toThrow(
      message,
    );
  });

  it('refuses a server its CA list does not vouch for', async () => {
    const other = await startHttpsMirror(dir);
    try {
      await expect(fetchHttps(`${mirror.url}/key`, { ca: other.pki.caCertPem })).rejects.toThrow(
        /Cannot fetch/,
      );
    } finally {
      await other.close();
    }
  });

  it('refuses a non-https URL outright', async () => {
    await expect(fetchHttps('http://127.0.0.1:1/key', { ca: mirror.pki.caCertPem })).rejects.toThrow(
      /not an https URL/,
    );
  });
});
