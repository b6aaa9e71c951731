import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpsMirror, type HttpsMirror } from '../../test/fixtures/rpm/https-mirror.js';
import { makeTestPki, type TestPki } from '../../test/packaging/test-pki.js';
import { KctlError } from '../../proto/errors.js';
import { MAX_FRAME_BYTES } from '../../proto/version.js';
import { httpsNet } from './https-net.js';

/** Against TEST SCAFFOLDING HTTPS servers on 127.0.0.1, each with its own test CA. */
let dir: string;
let mirror: HttpsMirror;
let api: { url: string; pki: TestPki; server: Server };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kctl-net-'));
  mirror = await startHttpsMirror(dir);
  mirror.files.set('/key', 'KEY');
  mirror.files.set('/big', Buffer.alloc(4096, 1));
  mirror.redirects.set('/hop', `${mirror.url}/key`);
  mirror.redirects.set('/loop', `${mirror.url}/loop`);
  mirror.redirects.set('/plain', 'http://127.0.0.1:1/key');
  api = await startJsonApi(dir);
}, 30_000);
afterAll(async () => {
  api.server.closeAllConnections();
  await new Promise((resolve) => api.server.close(resolve));
  await mirror.close();
  await rm(dir, { recursive: true, force: true });
});

/** A controller-like JSON API: reports the client certificate it was shown, and refuses like the controller. */
async function startJsonApi(pkiDir: string): Promise<{ url: string; pki: TestPki; server: Server }> {
  const pki = await makeTestPki(pkiDir, 'api');
  const server = createServer(
    { cert: pki.serverCert, key: pki.serverKey, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      switch (req.url ?? '') {
        case '/echo': {
          let body = '';
          req.on('data', (c: Buffer) => (body += c.toString()));
          req.on('end', () =>
            json(200, { method: req.method, body, clientCert: peer.raw?.toString('base64') ?? null }),
          );
          return;
        }
        case '/refused':
          return json(403, { error: { code: 'forbidden', message: 'host is revoked', retryable: false } });
        case '/not-json':
          res.writeHead(200).end('hello');
          return;
        case '/huge':
          res.writeHead(200).end(`"${'x'.repeat(MAX_FRAME_BYTES + 10)}"`);
          return;
        case '/silent':
          return; // never answers
        case '/stream':
          res.writeHead(200);
          res.write('part one, ');
          setTimeout(() => res.end('part two'), 20);
          return;
        case '/stalls':
          res.writeHead(200);
          res.write('a first byte and then nothing');
          return;
        default:
          return json(404, { error: { code: 'not_found', message: 'no such file', retryable: false } });
      }
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, pki, server };
}

const derOf = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, '');

describe('httpsNet.requestJson', () => {
  it('posts JSON over TLS verified with the pinned CA, showing the client certificate for mutual TLS', async () => {
    const tls = { ca: api.pki.caCertPem, cert: api.pki.serverCert, key: api.pki.serverKey };
    const answer = await httpsNet.requestJson({
      method: 'POST',
      url: `${api.url}/echo`,
      tls,
      body: { a: 1 },
    });
    expect(answer).toEqual({ method: 'POST', body: '{"a":1}', clientCert: derOf(api.pki.serverCert) });
  });

  it('refuses a server the pinned CA does not vouch for (S3), and fetches from it only when told it is unverified', async () => {
    const url = `${api.url}/echo`;
    await expect(
      httpsNet.requestJson({ method: 'GET', url, tls: { ca: mirror.pki.caCertPem } }),
    ).rejects.toMatchObject({ code: 'io_error', retryable: true });
    await expect(
      httpsNet.requestJson({ method: 'GET', url, tls: { unverified: 'fetching-the-ca-to-pin' } }),
    ).resolves.toMatchObject({ method: 'GET', clientCert: null });
  });

  it.each([
    [
      'an error body as the KctlError it names',
      '/refused',
      { code: 'forbidden', message: 'host is revoked' },
    ],
    [
      'a body that is not JSON',
      '/not-json',
      { code: 'invalid_frame', message: 'GET /not-json: HTTP 200, not JSON' },
    ],
    ['an answer over the frame cap', '/huge', { code: 'invalid_frame' }],
  ])('turns %s', async (_what, path, expected) => {
    const error = await httpsNet
      .requestJson({ method: 'GET', url: `${api.url}${path}`, tls: { ca: api.pki.caCertPem } })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(KctlError);
    expect(error).toMatchObject(expected);
  });

  it('gives up on a silent server after its timeout, retryably', async () => {
    await expect(
      httpsNet.requestJson({
        method: 'GET',
        url: `${api.url}/silent`,
        tls: { ca: api.pki.caCertPem },
        timeoutMs: 200,
      }),
    ).rejects.toMatchObject({ code: 'timeout', retryable: true });
  });
});

describe('httpsNet.fetchBytes', () => {
  it('follows an https redirect and returns the body', async () => {
    expect((await httpsNet.fetchBytes(`${mirror.url}/hop`, { ca: mirror.pki.caCertPem })).toString()).toBe(
      'KEY',
    );
  });

  it.each([
    ['a redirect to plain http', '/plain', {}, /is not an https URL/],
    ['a redirect loop', '/loop', {}, /more than 5 redirects/],
    ['a body over the cap', '/big', { maxBytes: 1024 }, /more than 1024 bytes/],
    ['a 404', '/missing', {}, /HTTP 404/],
  ])('refuses %s', async (_what, path, extra, message) => {
    await expect(
      httpsNet.fetchBytes(`${mirror.url}${path}`, { ca: mirror.pki.caCertPem, ...extra }),
    ).rejects.toThrow(message);
  });

  it('refuses a server its CA list does not vouch for', async () => {
    await expect(httpsNet.fetchBytes(`${mirror.url}/key`, { ca: api.pki.caCertPem })).rejects.toThrow(
      /Cannot fetch/,
    );
  });

  it('refuses a non-https URL outright', async () => {
    await expect(httpsNet.fetchBytes('http://127.0.0.1:1/key', { ca: mirror.pki.caCertPem })).rejects.toThrow(
      /not an https URL/,
    );
  });

  it('gives up when the whole fetch outlasts its timeout', async () => {
    await expect(
      httpsNet.fetchBytes(`${api.url}/silent`, { ca: api.pki.caCertPem, timeoutMs: 200 }),
    ).rejects.toThrow(/no answer in 200 ms/);
  });
});

describe('httpsNet.openStream', () => {
  const tls = (): { ca: string; cert: string; key: string } => ({
    ca: api.pki.caCertPem,
    cert: api.pki.serverCert,
    key: api.pki.serverKey,
  });

  it('hands over a 200 body as it arrives', async () => {
    const body = await httpsNet.openStream(`${api.url}/stream`, { tls: tls(), label: 'file "s"' });
    let text = '';
    for await (const chunk of body) text += Buffer.from(chunk).toString();
    expect(text).toBe('part one, part two');
  });

  it("refuses with the server's error, naming what was asked for", async () => {
    await expect(
      httpsNet.openStream(`${api.url}/gone`, { tls: tls(), label: 'bundle file "pool/a.deb"' }),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: 'Cannot fetch bundle file "pool/a.deb": HTTP 404: no such file',
      retryable: false,
    });
  });

  it('fails the stream when no byte comes for the idle timeout', async () => {
    const body = await httpsNet.openStream(`${api.url}/stalls`, {
      tls: tls(),
      label: 'file "s"',
      idleTimeoutMs: 200,
    });
    const drain = async (): Promise<void> => {
      for await (const _chunk of body) void _chunk;
    };
    await expect(drain()).rejects.toThrow(/Cannot fetch file "s": no data for 200 ms/);
  });
});

describe('httpsNet.resolves', () => {
  // only names /etc/hosts answers: tests send nothing to a real resolver
  it('answers true for a name the resolver knows', async () => {
    expect(await httpsNet.resolves('localhost', 2000)).toBe(true);
  });
});
