import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { allRoutes } from '../../controller/routes.js';
import type { Route, RouteAuth } from '../../controller/http-router.js';
import { login, startWebFixture, webToken, type WebFixture } from '../web/web-fixture.js';

/**
 * Issue 12, finding 5: bad input got 500 (a malformed percent-encoding in a path, unauthenticated
 * and on admin routes; a non-numeric ?limit=). Every route of both ports (the list the S14 tests
 * enumerate) gets malformed paths, queries and bodies from each kind of caller: the answer is a 4xx
 * whose message names the input, never a 5xx, and the controller stays up.
 */

interface Credential {
  certPem: string;
  keyPem: string;
}
interface Answer {
  status: number;
  body: string;
  message: string;
}

/** One raw HTTP/1.1 exchange over TLS: the target goes on the wire exactly as given. */
function exchange(
  port: number,
  caPem: string,
  head: { method: string; target: string; headers?: Record<string, string> },
  options: { cert?: Credential | undefined; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: caPem,
      servername: 'localhost',
      ...(options.cert ? { cert: options.cert.certPem, key: options.cert.keyPem } : {}),
    });
    const body = Buffer.from(options.body ?? '');
    const headers = {
      host: 'localhost',
      connection: 'close',
      'content-length': String(body.length),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...head.headers,
    };
    socket.once('secureConnect', () => {
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(
        Buffer.concat([Buffer.from(`${head.method} ${head.target} HTTP/1.1\r\n${lines.join('')}\r\n`), body]),
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', reject);
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const payload = text.slice(text.indexOf('\r\n\r\n') + 4);
      let message = '';
      try {
        const m = (JSON.parse(payload) as { error?: { message?: unknown } }).error?.message;
        message = typeof m === 'string' ? m : '';
      } catch {
        // not JSON (a page, a redirect, the metrics text)
      }
      resolve({ status, body: payload, message });
    });
  });
}

const BAD_SEGMENTS = ['%E0%A4%A', '%zz', '%', '%0A', '%00', 'a%0Db'];
const BAD_QUERIES = [
  'limit=abc',
  'limit=-1',
  'limit=1e3',
  'limit=10.5',
  'limit=',
  'limit=1&limit=2',
  'limit=%ZZ',
];
/** routes that read a query parameter, and which */
const QUERY_PARAMS: Record<string, string> = {
  'GET /v1/admin/audit': 'limit',
  'GET /v1/admin/applies': 'limit',
};
const BAD_BODIES = [
  '',
  'not json',
  '{',
  '[]',
  'null',
  '"text"',
  '{"__proto__":{"x":1}}',
  '{"unknownField":1}',
  `${'['.repeat(40)}${']'.repeat(40)}`,
];
const BAD_TARGETS = ['//', '//[', '//x:99999/', 'http://controller/healthz', '*', '//v1/admin/hosts'];

function withParams(path: string, value: string): string {
  return path.replace(/:[A-Za-z]+/g, value).replace(/\*$/, value);
}

describe('every route answers bad input with a 4xx naming it, never a 5xx', () => {
  let f: WebFixture;
  let host: Credential;
  let cookie: string;
  const routes: Route[] = allRoutes({ artifactsDir: '/nonexistent' } as never);

  const api = (
    head: { method: string; target: string; headers?: Record<string, string> },
    options: { cert?: Credential | undefined; body?: string } = {},
  ): Promise<Answer> => exchange(f.controller.port, f.caPem, head, options);

  const credentialFor = (auth: RouteAuth): Credential | undefined =>
    auth === 'admin' ? f.admin : auth === 'host' ? host : undefined;

  beforeAll(async () => {
    f = await startWebFixture();
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const enrolled = await api(
      { method: 'POST', target: '/v1/enroll' },
      {
        body: JSON.stringify({
          token: f.bootstrapToken(1),
          csrPem,
          facts: {
            hostname: 'fuzz-1',
            machineId: 'f'.repeat(32),
            productUuid: 'p',
            macs: [],
            ips: [],
            os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
            kernel: '6.1.0',
            arch: 'amd64',
            cpus: 2,
            memoryBytes: 1,
            cgroupVersion: 2,
          },
          labels: {},
          protocolVersion: PROTOCOL_VERSION,
        }),
      },
    );
    expect(enrolled.status, enrolled.body).toBe(200);
    host = { certPem: (JSON.parse(enrolled.body) as { certPem: string }).certPem, keyPem };
    cookie = await login(f, await webToken(f));
  });
  afterAll(async () => {
    await f?.close();
  });

  it('enumerates the routes of both ports', () => {
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.filter((r) => /[:*]/.test(r.path)).length).toBeGreaterThanOrEqual(5);
    expect(f.web.routes.some((r) => r.path.includes(':'))).toBe(true);
  });

  it('path parameters with a bad percent-encoding or control characters: 400 naming the segment for the route caller, 401/403 for others', async () => {
    for (const route of routes.filter((r) => /[:*]/.test(r.path))) {
      for (const segment of BAD_SEGMENTS) {
        const target = withParams(route.path, segment);
        const body = route.method === 'POST' ? '{}' : undefined;
        const mine = await api(
          { method: route.method, target },
          { cert: credentialFor(route.auth), ...(body === undefined ? {} : { body }) },
        );
        const what = `${route.method} ${target} as ${route.auth}`;
        expect(mine.status, `${what}: ${mine.body}`).toBeGreaterThanOrEqual(400);
        expect(mine.status, `${what}: ${mine.body}`).toBeLessThan(500);
        // the bundle routes answer "no bundle here" first when this controller serves none
        if (!route.path.startsWith('/v1/bundle/')) expect(mine.message, what).toContain(segment);
        if (route.auth !== 'public') {
          const anonymous = await api({ method: route.method, target }, body === undefined ? {} : { body });
          expect([401, 403], `${route.method} ${target} anonymous`).toContain(anonymous.status);
        }
      }
    }
  });

  it('malformed query parameters: 400 naming the parameter on the routes that read them, never a 5xx', async () => {
    for (const route of routes.filter((r) => r.method === 'GET')) {
      for (const query of BAD_QUERIES) {
        const target = `${withParams(route.path, 'x')}?${query}`;
        const r = await api({ method: 'GET', target }, { cert: credentialFor(route.auth) });
        expect(r.status, `${target}: ${r.body}`).toBeLessThan(500);
        const param = QUERY_PARAMS[`GET ${route.path}`];
        if (param !== undefined) {
          expect(r.status, `${target}: ${r.body}`).toBe(400);
          expect(r.message).toContain(`"${param}"`);
        }
      }
    }
  });

  it('malformed bodies on every POST route: 4xx naming the request body', async () => {
    for (const route of routes.filter((r) => r.method === 'POST' && !/[:*]/.test(r.path))) {
      for (const body of BAD_BODIES) {
        const r = await api(
          { method: 'POST', target: route.path },
          { cert: credentialFor(route.auth), body },
        );
        const what = `POST ${route.path} ${JSON.stringify(body)}: ${r.body}`;
        expect(r.status, what).toBeGreaterThanOrEqual(400);
        expect(r.status, what).toBeLessThan(500);
        expect(r.message, what).toMatch(/request body/);
      }
    }
  });

  it('random JSON bodies on every POST route never get a 5xx', async () => {
    const bodies = fc.sample(
      fc.oneof(
        fc.json({ depthSize: 'small' }),
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue()).map((o) => JSON.stringify(o)),
      ),
      { numRuns: 25, seed: 12 },
    );
    for (const route of routes.filter((r) => r.method === 'POST')) {
      for (const body of bodies) {
        const target = withParams(route.path, 'fuzz-nobody');
        const r = await api({ method: 'POST', target }, { cert: credentialFor(route.auth), body });
        expect(r.status, `POST ${target} ${body}: ${r.body}`).toBeLessThan(500);
      }
    }
  });

  it('a cluster.yaml field the renderers cannot read is a 400 naming the field, not a 500 at plan time', async () => {
    const spec = {
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'fuzz',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: '198.18.0.100' },
      runtime: { containerd: { registryMirrors: { 'docker.io': ['https://[::1'] } } },
      hosts: [{ name: 'fuzz-1', role: 'control-plane' }],
    };
    const r = await api(
      { method: 'POST', target: '/v1/admin/plan' },
      { cert: f.admin, body: JSON.stringify({ spec }) },
    );
    expect(r.status, r.body).toBe(400);
    expect(r.message).toMatch(/registryMirrors/);
    expect(r.message).toContain('https://[::1');
  });

  it('request targets that are not a plain path: 400 on both ports, including upgrades, and both stay up', async () => {
    for (const target of BAD_TARGETS) {
      for (const port of [f.controller.port, f.web.port]) {
        const plain = await exchange(port, f.caPem, { method: 'GET', target }, { cert: f.admin });
        expect(plain.status, `${port} ${target}: ${plain.body}`).toBeGreaterThanOrEqual(400);
        expect(plain.status, `${port} ${target}: ${plain.body}`).toBeLessThan(500);
        if (plain.message !== '') expect(plain.message).toContain(JSON.stringify(target).slice(1, -1));
        const upgrade = await exchange(
          port,
          f.caPem,
          {
            method: 'GET',
            target,
            headers: {
              connection: 'Upgrade',
              upgrade: 'websocket',
              'sec-websocket-version': '13',
              'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            },
          },
          { cert: host },
        );
        expect(upgrade.status, `upgrade ${port} ${target}`).toBeGreaterThanOrEqual(400);
        expect(upgrade.status, `upgrade ${port} ${target}`).toBeLessThan(500);
      }
    }
    expect((await api({ method: 'GET', target: '/healthz' })).status).toBe(200);
    expect((await exchange(f.web.port, f.caPem, { method: 'GET', target: '/login' })).status).toBe(200);
  });

  it('fleet page routes: a bad encoding is a 400 naming the segment with a session, 401 without', async () => {
    for (const route of f.web.routes.filter((r) => r.path.includes(':'))) {
      for (const segment of BAD_SEGMENTS) {
        const target = withParams(route.path, segment);
        const r = await exchange(f.web.port, f.caPem, { method: route.method, target, headers: { cookie } });
        expect(r.status, `${target}: ${r.body}`).toBe(400);
        expect(r.message).toContain(segment);
        const anonymous = await exchange(f.web.port, f.caPem, { method: route.method, target });
        expect(anonymous.status).toBe(route.access === 'public' ? 400 : 401);
      }
    }
  });
});
