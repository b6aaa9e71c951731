import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { createLogger } from '../proto/logging.js';
import { createCa, issueAdminCert } from './pki.js';
import { initDataDir } from './data-dir.js';
import { startController, type RunningController } from './main.js';
import { tlsRefusal } from './server.js';

const fakeSocket = (authorizationError: unknown, peer: object): TLSSocket =>
  ({ authorizationError, getPeerCertificate: () => peer }) as unknown as TLSSocket;

describe('tlsRefusal', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['CERT_HAS_EXPIRED', 'CERT_HAS_EXPIRED'],
    [Object.assign(new Error('x'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['-----BEGIN PRIVATE KEY----- abc', 'other'],
    ['abcdef.0123456789abcdef', 'other'],
    [undefined, 'none'],
  ])('reports authorizationError %j as %s', (raw, expected) => {
    expect(tlsRefusal(fakeSocket(raw, { raw: Buffer.alloc(1) }))).toEqual({
      tlsError: expected,
      clientCert: true,
    });
  });

  it('says whether a certificate was offered', () => {
    expect(tlsRefusal(fakeSocket('UNABLE_TO_GET_ISSUER_CERT', {})).clientCert).toBe(false);
  });
});

describe('a TLS client whose certificate is refused', () => {
  let dir: string;
  let controller: RunningController;
  let caPem: string;
  let logText = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-server-test-'));
    await initDataDir({ dir, listen: '127.0.0.1:0', sans: [] });
    caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    const destination = new PassThrough();
    destination.on('data', (d: Buffer) => (logText += d.toString()));
    controller = await startController({
      dataDir: dir,
      listen: '127.0.0.1:0',
      webListen: false,
      log: createLogger({ name: 'test', level: 'debug', destination }),
    });
  });
  afterAll(async () => {
    await controller.close();
    await rm(dir, { recursive: true, force: true });
  });

  const lines = (): Array<Record<string, unknown>> =>
    logText
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('is logged at warn with the TLS reason code only, on the API and on the agent channel', async () => {
    const foreign = await issueAdminCert(await createCa({ commonName: 'someone else' }), { name: 'admin' });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          hostname: '127.0.0.1',
          port: controller.port,
          path: '/v1/admin/hosts',
          ca: [caPem],
          cert: foreign.certPem,
          key: foreign.keyPem,
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);

    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${controller.port}/v1/agent`, {
        ca: [caPem],
        cert: foreign.certPem,
        key: foreign.keyPem,
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
    expect(refused).toBe(401);

    const api = lines().find((l) => l.msg === 'tls client certificate refused');
    expect(api).toMatchObject({ level: 40, clientCert: true, tlsError: expect.stringMatching(/^[A-Z_]+$/) });
    const channel = lines().find((l) => l.msg === 'agent connection refused');
    expect(channel).toMatchObject({
      level: 40,
      code: 'not_authenticated',
      clientCert: true,
      tlsError: api?.tlsError,
    });
    expect(logText).not.toContain('BEGIN');
    expect(controller.metrics.connectionsRefused.get('tls_unverified')).toBe(1);
  });
});
