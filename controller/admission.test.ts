import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:https';
import { initDataDir, ControllerSettings } from './data-dir.js';
import { createHardenedHttpsServer } from './server.js';
import { admitTlsHandshakes, ConnectionAdmission, DEFAULT_ADMISSION } from './admission.js';
import { AdaptiveHandshakeBound } from './adaptive-handshake-bound.js';

/**
 * Issue 12, finding 12: TLS handshakes in flight are bounded; above the bound a new connection is
 * reset at once, before any TLS work, instead of queueing into handshake timeouts.
 */
describe('TLS handshake admission', () => {
  let dir: string;
  let server: Server;
  let port: number;
  let caPem: string;
  let refused = 0;
  const MAX = 3;
  const open: Socket[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-admission-test-'));
    await initDataDir({ dir, listen: '127.0.0.1:0', sans: [] });
    caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    server = createHardenedHttpsServer(
      {
        certPem: await readFile(join(dir, 'server.crt'), 'utf8'),
        keyPem: await readFile(join(dir, 'server.key'), 'utf8'),
        caPem,
      },
      { requestTimeoutMs: 60_000 },
    );
    server.on('request', (_req, res) => res.end('ok'));
    admitTlsHandshakes(server, { max: MAX, onRefused: () => refused++ });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A TCP connection that never starts its TLS handshake: one handshake in flight on the server. */
  const stalled = async (): Promise<Socket> => {
    const s = tcpConnect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    open.push(s);
    return s;
  };
  const secure = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', ca: [caPem], servername: 'localhost' });
      s.once('secureConnect', () => {
        open.push(s);
        resolve(s);
      });
      s.once('error', reject);
    });
  /** Resolves with how the server answered a new connection: reset at once, or its TLS finished. */
  const outcome = (): Promise<'reset' | 'secure'> =>
    secure().then(
      (s) => {
        s.destroy();
        return 'secure';
      },
      (err: NodeJS.ErrnoException) => {
        expect(err.code).toBe('ECONNRESET');
        return 'reset';
      },
    );
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

  it('finished handshakes do not count: more connections than the bound stay open', async () => {
    const live = [];
    for (let i = 0; i < MAX * 3; i++) live.push(await secure());
    expect(refused).toBe(0);
    for (const s of live) s.destroy();
    await settle();
  });

  it('above the bound a new connection is reset at once, and admitted again when one finishes', async () => {
    const stalls = await Promise.all(Array.from({ length: MAX }, () => stalled()));
    await settle();
    const started = Date.now();
    expect(await outcome()).toBe('reset');
    expect(await outcome()).toBe('reset');
    // at once: not after the server's 10 s handshake timeout
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(refused).toBe(2);
    stalls[0]?.destroy();
    await settle();
    expect(await outcome()).toBe('secure');
    for (const s of stalls) s.destroy();
    await settle();
    expect(await outcome()).toBe('secure');
    expect(refused).toBe(2);
  });

  it('an adaptive bound admits more once it was reached while the loop kept up; refusals stay resets', async () => {
    // a second server on the same data dir whose bound starts at MAX and grows by 2 per quiet window
    let t = 0;
    let lagMs = 0;
    let refusedHere = 0;
    const grow = new AdaptiveHandshakeBound(
      { initial: MAX, floor: 1, ceiling: MAX + 2, targetLagMs: 200, intervalMs: 250, increase: 2 },
      { readMs: () => lagMs },
      () => t,
    );
    const s2 = createHardenedHttpsServer(
      {
        certPem: await readFile(join(dir, 'server.crt'), 'utf8'),
        keyPem: await readFile(join(dir, 'server.key'), 'utf8'),
        caPem,
      },
      { requestTimeoutMs: 60_000 },
    );
    s2.on('request', (_req, res) => res.end('ok'));
    admitTlsHandshakes(s2, { max: grow, onRefused: () => refusedHere++ });
    await new Promise<void>((r) => s2.listen(0, '127.0.0.1', () => r()));
    const a = s2.address();
    const first = port;
    port = typeof a === 'object' && a ? a.port : 0;
    try {
      await Promise.all(Array.from({ length: MAX }, () => stalled()));
      await settle();
      expect(await outcome()).toBe('reset');
      // the loop was quiet through the window in which the bound refused: it grows (a fixed bound
      // of MAX refuses these two)
      t += 250;
      expect(await outcome()).toBe('secure');
      // the server counts a handshake finished a moment after the client does
      await settle();
      await stalled();
      await settle();
      expect(await outcome()).toBe('secure');
      await settle();
      // up to its ceiling, MAX + 2 handshakes in flight
      await stalled();
      await settle();
      expect(await outcome()).toBe('reset');
      // a loop that fell behind halves it: below the handshakes already running, nothing new starts
      lagMs = 500;
      t += 250;
      expect(await outcome()).toBe('reset');
      expect(grow.current()).toBe(2);
      expect(refusedHere).toBe(3);
    } finally {
      for (const x of open) x.destroy();
      port = first;
      s2.closeAllConnections();
      await new Promise<void>((r) => s2.close(() => r()));
    }
  });

  it('is a controller.json setting with defaults a steady fleet does not reach', () => {
    expect(DEFAULT_ADMISSION).toEqual({
      maxTlsHandshakesInFlight: 256,
      maxUpgradesInFlight: 256,
      maxUpgradesPerIp: 64,
      bound: 'adaptive',
      adaptive: { floor: 32, ceiling: 4096, targetLagMs: 500, intervalMs: 250, increase: 64 },
    });
    const settings = ControllerSettings.parse({
      listen: '127.0.0.1:9443',
      sans: [],
      advertiseUrl: 'https://127.0.0.1:9443',
    });
    expect(settings.admission).toEqual(DEFAULT_ADMISSION);
    expect(ConnectionAdmission.safeParse({ maxTlsHandshakesInFlight: 0 }).success).toBe(false);
  });
});
