import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:tls';
import { HEADERS_TIMEOUT_MS } from '../../controller/server.js';
import { startInProcessController, type InProcessController } from './fake-agent.js';

/**
 * Issue 12, finding 4: a client that sends its request headers one byte a second is cut off at the
 * documented header timeout (10 s), on the agent/admin port and on the fleet page's port alike, not
 * at Node's periodic sweep (which closed it after 24-29 s).
 */
describe('slow request headers', () => {
  let c: InProcessController;

  beforeAll(async () => {
    c = await startInProcessController({ web: true });
  }, 30_000);
  afterAll(async () => {
    await c.close();
  });

  /** Connects, optionally completes one quick request first, then trickles a request's headers. */
  const trickle = (port: number, keepAliveFirst: boolean) =>
    new Promise<{ closedAfterMs: number; response: string }>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: [c.caPem], servername: 'localhost' });
      let response = '';
      let started = 0;
      let timer: NodeJS.Timeout | undefined;
      const slow = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(60);
      const startTrickle = (): void => {
        started = Date.now();
        let i = 0;
        timer = setInterval(() => {
          if (!socket.destroyed && i < slow.length) socket.write(slow[i++]!);
        }, 1000);
      };
      socket.on('data', (d: Buffer) => {
        response += d.toString();
        // the quick request was answered: now the slow one on the same connection
        if (keepAliveFirst && started === 0 && response.includes('{"ok":true}')) {
          response = '';
          startTrickle();
        }
      });
      socket.once('secureConnect', () => {
        if (keepAliveFirst) socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
        else startTrickle();
      });
      socket.once('close', () => {
        clearInterval(timer);
        resolve({ closedAfterMs: Date.now() - started, response });
      });
      socket.on('error', (err: Error) => {
        if (started === 0) reject(err);
      });
    });

  it(
    'closes the connection within a second of the header timeout on both listeners, also for a keep-alive request',
    { timeout: 40_000 },
    async () => {
      const results = await Promise.all([
        trickle(c.controller.port, false),
        trickle(c.controller.web!.port, false),
        trickle(c.controller.port, true),
      ]);
      for (const r of results) {
        expect(r.closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 1000);
        expect(r.closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 1500);
        expect(r.response).toMatch(/^HTTP\/1\.1 408 /);
      }
      expect(c.controller.metrics.connectionsRefused.get('headers_timeout')).toBeGreaterThanOrEqual(2);
    },
  );
});
