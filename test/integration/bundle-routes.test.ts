import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import { OkResponse, TokenCreateResponse } from '../../proto/admin-api.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { SignedBundleManifest, manifestSignatureValid } from '../../proto/bundle.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { createCa, signAgentCsr } from '../../controller/pki.js';
import { initDataDir } from '../../controller/data-dir.js';
import { loadClientConfig, type ClientConfig } from '../../controller/cli/client-config.js';
import { ApiClient } from '../../controller/cli/api-client.js';
import { startController, type RunningController } from '../../controller/main.js';
import { writeManifest } from '../../controller/bundle/manifest.js';
import { cleanup, freePort, postJson, tempDir } from './harness.js';

const facts = {
  machineId: 'a'.repeat(32),
  productUuid: 'p',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
};

interface Cred {
  cert?: string;
  key?: string;
}

function get(
  url: string,
  ca: string,
  cred: Cred,
  rawPath?: string,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        method: 'GET',
        hostname: u.hostname,
        port: u.port,
        path: rawPath ?? u.pathname,
        ca: [ca],
        rejectUnauthorized: true,
        agent: false,
        ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const errorOf = (b: Buffer): { code: string; message: string } =>
  (JSON.parse(b.toString()) as { error: { code: string; message: string } }).error;

/** GET /v1/bundle/*: enrolled, non-revoked hosts only; only what the manifest lists, from inside the bundle. */
describe('bundle routes on the controller', () => {
  let dataDir: string;
  let bundle: string;
  let controller: RunningController;
  let url: string;
  let caPem: string;
  let admin: ClientConfig;
  let api: ApiClient;
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 0x5a); // more than the 1 MiB frame cap: streamed

  const enroll = async (hostname: string): Promise<Cred & { hostId: string }> => {
    const { token } = await api.post('/v1/admin/tokens', { ttlMs: 600_000, uses: 1 }, TokenCreateResponse);
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const { status, text: body } = await postJson(`${url}/v1/enroll`, caPem, {
      token,
      csrPem,
      facts: { ...facts, hostname, machineId: createHash('md5').update(hostname).digest('hex') },
      labels: {},
      protocolVersion: PROTOCOL_VERSION,
    });
    expect(status, body).toBe(200);
    const r = JSON.parse(body) as { certPem: string; hostId: string };
    return { cert: r.certPem, key: keyPem, hostId: r.hostId };
  };

  beforeAll(async () => {
    dataDir = await tempDir('bundle-ctl');
    bundle = await tempDir('bundle-dir');
    await mkdir(join(bundle, 'apt/pool'), { recursive: true });
    await writeFile(join(bundle, 'apt/Packages'), 'Package: x\n');
    await writeFile(join(bundle, 'apt/pool/big_1%3a1.0_all.deb'), big);
    await writeManifest(bundle);
    // inside the directory but not in the manifest, and a symlink escaping it
    await writeFile(join(bundle, 'apt/unlisted'), 'nope');
    await writeFile(join(dataDir, 'secret'), 'secret');
    const port = await freePort();
    await initDataDir({ dir: dataDir, listen: `127.0.0.1:${port}`, sans: [] });
    controller = await startController({
      dataDir,
      bundleDir: bundle,
      webListen: false,
      log: pino({ level: 'silent' }),
    });
    url = controller.url;
    caPem = await readFile(join(dataDir, 'ca.crt'), 'utf8');
    admin = await loadClientConfig(join(dataDir, 'kctl.yaml'));
    api = new ApiClient(admin);
  }, 60_000);

  afterAll(async () => {
    await controller.close();
    await cleanup([dataDir, bundle]);
  });

  it('serves an enrolled host the manifest signed by the CA, and every listed file byte for byte', async () => {
    const host = await enroll('bundle-ok');
    const m = await get(`${url}/v1/bundle/manifest`, caPem, host);
    expect(m.status).toBe(200);
    const signed = SignedBundleManifest.parse(JSON.parse(m.body.toString()));
    expect(signed.manifest).toBe(await readFile(join(bundle, 'manifest.json'), 'utf8'));
    expect(manifestSignatureValid(signed.manifest, signed.signature, caPem)).toBe(true);
    const f = await get(`${url}/v1/bundle/files/apt/pool/big_1%253a1.0_all.deb`, caPem, host);
    expect(f.status).toBe(200);
    expect(f.body.length).toBe(big.length);
    expect(f.body.equals(big)).toBe(true);
    expect((await get(`${url}/v1/bundle/files/apt/Packages`, caPem, host)).body.toString()).toBe(
      'Package: x\n',
    );
  });

  it('refuses a client without a certificate, with a foreign one, an admin, and a revoked host, and counts them', async () => {
    const none = await get(`${url}/v1/bundle/manifest`, caPem, {});
    expect(none.status).toBe(401);
    expect(errorOf(none.body).message).toMatch(/enrolled hosts only: present the host certificate/);

    const foreignCa = await createCa({ commonName: 'someone else' });
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const foreign = await signAgentCsr(foreignCa, csrPem, { hostId: 'h-foreign', validityDays: 1 });
    const f = await get(`${url}/v1/bundle/files/apt/Packages`, caPem, { cert: foreign.certPem, key: keyPem });
    expect(f.status).toBe(401);
    expect(errorOf(f.body).message).toMatch(/not issued by this controller/);

    const a = await get(`${url}/v1/bundle/manifest`, caPem, { cert: admin.certPem, key: admin.keyPem });
    expect(a.status).toBe(403);
    expect(errorOf(a.body).message).toMatch(/not to admin credentials/);

    const host = await enroll('bundle-revoked');
    expect((await get(`${url}/v1/bundle/manifest`, caPem, host)).status).toBe(200);
    await api.post('/v1/admin/hosts/bundle-revoked/revoke', {}, OkResponse);
    const r = await get(`${url}/v1/bundle/files/apt/Packages`, caPem, host);
    expect(r.status).toBe(403);
    expect(errorOf(r.body)).toMatchObject({
      code: 'host_revoked',
      message: 'Host "bundle-revoked" is revoked',
    });

    const refused = Object.fromEntries(controller.metrics.connectionsRefused);
    expect(refused).toMatchObject({
      bundle_not_authenticated: 2,
      bundle_forbidden: 1,
      bundle_host_revoked: 1,
    });
  });

  it.each([
    ['a file not in the manifest', '/v1/bundle/files/apt/unlisted', /not in the bundle manifest/],
    ['the manifest through the files route', '/v1/bundle/files/manifest.json', /not in the bundle manifest/],
    ['an encoded slash', '/v1/bundle/files/apt%2FPackages', /encoded separator/],
    ['an encoded backslash', '/v1/bundle/files/apt%5CPackages', /encoded separator/],
    ['an encoded dot-dot', '/v1/bundle/files/apt/%2E%2E/%2E%2E/secret', /No route|not in the bundle/],
    ['a raw dot-dot', '/v1/bundle/files/../../secret', /No route|not in the bundle/],
    ['a bad escape', '/v1/bundle/files/apt/%zz', /bad percent-encoding/],
  ])('answers 404 for %s', async (_what, rawPath, message) => {
    const host = await enroll(`bundle-404-${Math.random().toString(36).slice(2, 8)}`);
    const r = await get(`${url}/`, caPem, host, rawPath);
    expect(r.status).toBe(404);
    expect(errorOf(r.body).message).toMatch(message);
  });

  it('does not follow a listed symlink out of the bundle directory', async () => {
    const host = await enroll('bundle-symlink');
    // swap a listed file for a symlink to a file outside the bundle after the manifest was made
    const { rm } = await import('node:fs/promises');
    await rm(join(bundle, 'apt/Packages'));
    await symlink(join(dataDir, 'secret'), join(bundle, 'apt/Packages'));
    const r = await get(`${url}/v1/bundle/files/apt/Packages`, caPem, host);
    expect(r.status).toBe(404);
    expect(errorOf(r.body).message).toMatch(/not inside the bundle directory/);
  });
});
