import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, startControllerProcess, waitFor, type ControllerHandle } from '../integration/harness.js';

/** `kctl controller run` serves the fleet page on the admin port + 1, and nothing there is open. */
describe('the fleet page of a real controller process', () => {
  let controller: ControllerHandle;
  let caPem: string;
  const get = (
    port: number,
    path: string,
  ): Promise<{ status: number; location: string | undefined; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, ca: caPem, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    controller = await startControllerProcess();
    caPem = await readFile(join(controller.dataDir, 'ca.crt'), 'utf8');
  }, 60_000);
  afterAll(async () => {
    await controller?.proc.stop();
    await cleanup([controller.dataDir]);
  });

  it('listens on the admin port + 1 with the controller certificate', async () => {
    const login = await waitFor('fleet page', () => get(controller.port + 1, '/login'));
    expect(login.status).toBe(200);
    expect(login.body).toContain('<form method="post" action="/login">');
  });

  it.each(['/', '/api/fleet', '/api/session', '/static/app.js'])(
    'refuses %s without a session',
    async (path) => {
      const r = await get(controller.port + 1, path);
      expect(r.status === 401 || (r.status === 303 && r.location === '/login')).toBe(true);
      expect(r.body.length).toBeLessThan(200);
    },
  );

  it('keeps the page off the agent and admin port', async () => {
    const r = await get(controller.port, '/login');
    expect(r.status).toBe(404);
  });
});
