import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { WebTokens } from '../../controller/web/web-tokens.js';
import {
  LIVE_PROTOCOL,
  LIVE_TOKEN_PREFIX,
  type FleetSnapshot,
  type LiveMessage,
  type SessionInfo,
} from '../../controller/web/fleet-api.js';
import { recordPreflight } from '../../controller/web/preflight-results.js';
import { httpsCall, login, seedHosts, startWebFixture, webToken, type WebFixture } from './web-fixture.js';

/**
 * The fleet page's port over real TLS, without a browser: the one guard over every route (S14),
 * login and its cookie, and the live channel's Origin, cookie and token checks (S13).
 */
describe('the fleet page server', () => {
  let f: WebFixture;
  let cookie: string;
  let session: SessionInfo;

  beforeAll(async () => {
    f = await startWebFixture({ liveIntervalMs: 200 });
    await seedHosts(f.controller, 5);
    cookie = await login(f, await webToken(f));
    session = JSON.parse((await httpsCall(f, '/api/session', { headers: { cookie } })).body) as SessionInfo;
  });
  afterAll(async () => {
    await f?.close();
  });

  it('serves only the login page and its stylesheet without a session', () => {
    const open = f.web.routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.path}`);
    expect(open.sort()).toEqual(['GET /login', 'GET /static/app.css', 'POST /login']);
  });

  it('refuses every other route without a session: 401, or a redirect to /login for the page', async () => {
    const guarded = f.web.routes.filter((r) => r.access === 'session');
    expect(guarded.length).toBeGreaterThanOrEqual(6);
    for (const route of guarded) {
      const path = route.path.replace(':id', 'anything');
      const r = await httpsCall(f, path, { method: route.method });
      if (route.page) {
        expect(r.status, path).toBe(303);
        expect(r.headers.location).toBe('/login');
      } else {
        expect(r.status, `${route.method} ${path}`).toBe(401);
      }
      expect(r.body).not.toContain('sim-0001');
    }
  });

  it('refuses a forged or stale session cookie like no cookie', async () => {
    const r = await httpsCall(f, '/api/fleet', { headers: { cookie: '__Host-kctl-session=forged' } });
    expect(r.status).toBe(401);
  });

  it('sets an HttpOnly, Secure, SameSite=Strict __Host- cookie at login and serves the fleet with it', async () => {
    const r = await httpsCall(f, '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(await webToken(f, true))}`,
    });
    expect(r.status).toBe(303);
    const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? '';
    expect(setCookie).toMatch(/^__Host-kctl-session=[A-Za-z0-9_-]{43};/);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) expect(setCookie).toContain(attr);
    const readOnlyCookie = setCookie.split(';')[0] ?? '';
    const me = JSON.parse((await httpsCall(f, '/api/session', { headers: { cookie: readOnlyCookie } })).body);
    expect(me).toMatchObject({ readOnly: true, livePath: '/live' });
    const fleet = await httpsCall(f, '/api/fleet', { headers: { cookie: readOnlyCookie } });
    expect(fleet.status).toBe(200);
    expect(JSON.parse(fleet.body).hosts).toHaveLength(5);
  });

  it.each([
    ['a wrong secret', 'abcdefgh.' + 'x'.repeat(32)],
    ['a bootstrap token', 'abcdef.0123456789abcdef'],
    ['nothing', ''],
  ])('refuses a login with %s and records it in the audit trail', async (_what, token) => {
    const r = await httpsCall(f, '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(r.status).toBe(401);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect((await f.controller.store.listAudit(5)).map((a) => a.action)).toContain('web.login.refused');
  });

  it('refuses a login form posted from another origin', async () => {
    const r = await httpsCall(f, '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: `token=${encodeURIComponent(await webToken(f))}`,
    });
    expect(r.status).toBe(403);
  });

  it('logs in with the admin client certificate, and not without one', async () => {
    const body = 'method=certificate';
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const withCert = await httpsCall(f, '/login', { method: 'POST', headers, body, clientCert: f.admin });
    expect(withCert.status).toBe(303);
    const c = ([] as string[]).concat(withCert.headers['set-cookie'] ?? [])[0]?.split(';')[0] ?? '';
    const me = JSON.parse((await httpsCall(f, '/api/session', { headers: { cookie: c } })).body);
    expect(me).toMatchObject({ user: 'admin:admin', readOnly: false });
    const without = await httpsCall(f, '/login', { method: 'POST', headers, body });
    expect(without.status).toBe(401);
  });

  it('ends the sessions of a deleted web token at their next request', async () => {
    const token = await webToken(f);
    const c = await login(f, token);
    expect((await httpsCall(f, '/api/fleet', { headers: { cookie: c } })).status).toBe(200);
    await new WebTokens(f.controller.store.webTokens).revoke(token.split('.')[0] ?? '');
    expect((await httpsCall(f, '/api/fleet', { headers: { cookie: c } })).status).toBe(401);
  });

  it('logs out only with the session token, and the cookie is dead afterwards', async () => {
    const c = await login(f, await webToken(f));
    const me = JSON.parse(
      (await httpsCall(f, '/api/session', { headers: { cookie: c } })).body,
    ) as SessionInfo;
    const form = { cookie: c, 'content-type': 'application/x-www-form-urlencoded' };
    expect(
      (await httpsCall(f, '/logout', { method: 'POST', headers: form, body: 'csrf=wrong' })).status,
    ).toBe(403);
    const out = await httpsCall(f, '/logout', {
      method: 'POST',
      headers: form,
      body: `csrf=${me.csrfToken}`,
    });
    expect(out.status).toBe(303);
    expect((await httpsCall(f, '/api/fleet', { headers: { cookie: c } })).status).toBe(401);
  });

  it('sends a content security policy without inline script, and no framing', async () => {
    const r = await httpsCall(f, '/', { headers: { cookie } });
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.body).not.toMatch(/<script>(?!<)/);
  });

  it('answers the details of a host preflight by host id', async () => {
    const host = (await f.controller.store.getHostByName('sim-0002'))!;
    await recordPreflight(f.controller.store, {
      host: 'sim-0002',
      spec: {
        role: 'worker',
        kubernetesVersion: 'v1.33.0',
        isFirstControlPlane: false,
        kubeProxyMode: 'iptables',
      },
      results: [
        {
          id: 'Swap',
          title: 'swap is off',
          severity: 'error',
          status: 'fail',
          observed: '1 device',
          expected: 'none',
          remedy: 'swapoff -a',
        },
      ],
      durationMs: 12,
    });
    const r = await httpsCall(f, `/api/hosts/${host.id}/preflight`, { headers: { cookie } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ host: 'sim-0002', results: [{ id: 'Swap', status: 'fail' }] });
    const fleet = JSON.parse(
      (await httpsCall(f, '/api/fleet', { headers: { cookie } })).body,
    ) as FleetSnapshot;
    const row = fleet.hosts.find((h) => h.name === 'sim-0002');
    expect(row?.preflight).toMatchObject({ pass: 0, fail: 1 });
  });

  describe('live channel', () => {
    const origin = (): string => `https://127.0.0.1:${f.web.port}`;
    const open = (
      headers: Record<string, string>,
      protocols: string[] = [LIVE_PROTOCOL, LIVE_TOKEN_PREFIX + session.csrfToken],
    ): Promise<{ ws: WebSocket; first: LiveMessage } | { status: number }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`wss://127.0.0.1:${f.web.port}/live`, protocols, {
          headers,
          ca: f.caPem,
          perMessageDeflate: false,
        });
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        ws.once('message', (data: Buffer) =>
          resolve({ ws, first: JSON.parse(data.toString()) as LiveMessage }),
        );
        ws.once('error', reject);
      });

    it('refuses a handshake from an origin not on the allow-list, even with cookie and token', async () => {
      const r = await open({ cookie, origin: `https://127.0.0.1:${f.web.port + 1}` });
      expect(r).toEqual({ status: 403 });
    });

    it.each([
      ['no cookie', () => ({ origin: origin() }), undefined, 401],
      ['no token', () => ({ origin: origin(), cookie }), [LIVE_PROTOCOL], 403],
      [
        'another session token',
        () => ({ origin: origin(), cookie }),
        [LIVE_PROTOCOL, `${LIVE_TOKEN_PREFIX}00ff`],
        403,
      ],
      ['no Origin at all', () => ({ cookie }), undefined, 403],
    ])('refuses a handshake with %s', async (_what, headers, protocols, status) => {
      expect(await open(headers(), protocols)).toEqual({ status });
    });

    it('sends a snapshot, then coalesces a burst of heartbeats into a few updates', async () => {
      const r = await open({ origin: origin(), cookie });
      if (!('ws' in r)) throw new Error(`refused: ${r.status}`);
      expect(r.first.type).toBe('snapshot');
      if (r.first.type !== 'snapshot') return;
      expect(r.first.snapshot.hosts.map((h) => h.name)).toContain('sim-0001');
      const updates: LiveMessage[] = [];
      r.ws.on('message', (d: Buffer) => updates.push(JSON.parse(d.toString()) as LiveMessage));
      const host = (await f.controller.store.getHostByName('sim-0003'))!;
      const started = Date.now();
      // 200 heartbeats in one second
      for (let i = 0; i < 200; i++) {
        await f.controller.store.recordHostSeen(host.id, { at: started + i, ip: null });
        await new Promise((res) => setTimeout(res, 5));
      }
      await new Promise((res) => setTimeout(res, 400));
      const elapsed = Date.now() - started;
      const deltas = updates.filter((m) => m.type === 'update');
      expect(deltas.length).toBeGreaterThanOrEqual(1);
      // liveIntervalMs is 200 here: at most one update per period
      expect(deltas.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 1);
      const last = deltas.at(-1);
      expect(last?.type === 'update' && last.upserts.find((h) => h.name === 'sim-0003')?.lastSeenAt).toBe(
        started + 199,
      );
      r.ws.close();
    });

    it('closes the live socket when its session ends', async () => {
      const c = await login(f, await webToken(f));
      const me = JSON.parse(
        (await httpsCall(f, '/api/session', { headers: { cookie: c } })).body,
      ) as SessionInfo;
      const r = await open({ origin: origin(), cookie: c }, [
        LIVE_PROTOCOL,
        LIVE_TOKEN_PREFIX + me.csrfToken,
      ]);
      if (!('ws' in r)) throw new Error(`refused: ${r.status}`);
      const closed = new Promise<number>((res) => r.ws.once('close', (code) => res(code)));
      const form = { cookie: c, 'content-type': 'application/x-www-form-urlencoded' };
      await httpsCall(f, '/logout', { method: 'POST', headers: form, body: `csrf=${me.csrfToken}` });
      expect(await closed).toBe(4401);
    });
  });
});
