import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { pino } from 'pino';
import { StateDir } from '../../agent/host/state-dir.js';
import { enroll, loadIdentity } from '../../agent/enroll.js';
import { rotateIfDue } from '../../agent/rotate.js';
import { httpsNet } from '../../agent/host/https-net.js';
import { AuditList } from '../../proto/admin-api.js';
import { cleanup, kctl, startControllerProcess, tempDir, type ControllerHandle } from './harness.js';

const facts = {
  hostname: 'rot-1',
  machineId: 'b'.repeat(32),
  productUuid: 'p',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2 as const,
};

/** S6: certificates rotate over mutual TLS; after a rotation the old certificate is refused. */
describe('certificate rotation', () => {
  let controller: ControllerHandle;
  let dir: string;

  beforeAll(async () => {
    controller = await startControllerProcess();
    dir = await tempDir('rotation');
  }, 30_000);
  afterAll(async () => {
    await controller.proc.stop();
    await cleanup([controller.dataDir, dir]);
  });

  const dial = (caPem: string, certPem: string, keyPem: string): Promise<string> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${controller.url.replace('https', 'wss')}/v1/agent`, {
        ca: [caPem],
        cert: certPem,
        key: keyPem,
      });
      ws.once('open', () => {
        ws.close();
        resolve('open');
      });
      ws.once('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
      ws.once('error', (e) => resolve(`error ${e.message}`));
    });

  it('renews with a new key and serial for the same host, and the old certificate stops working', async () => {
    const token = (
      await kctl(['token', 'create'], { env: { KCTL_CONFIG: controller.clientConfig } })
    ).stdout.trim();
    const state = new StateDir(join(dir, 'state'));
    await state.init();
    const log = pino({ level: 'silent' });
    const first = await enroll({
      controller: controller.url,
      pins: [controller.caPin],
      skipCaVerification: false,
      token,
      facts,
      labels: {},
      state,
      log,
      net: httpsNet,
    });
    expect(await dial(first.caPem, first.certPem, first.keyPem)).toBe('open');

    const notDue = await rotateIfDue({
      controller: controller.url,
      identity: first,
      state,
      log,
      net: httpsNet,
    });
    expect(notDue).toBe(first);

    const second = await rotateIfDue({
      controller: controller.url,
      identity: first,
      state,
      log,
      net: httpsNet,
      force: true,
    });
    expect(second.hostId).toBe(first.hostId);
    expect(second.certPem).not.toBe(first.certPem);
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(await dial(second.caPem, second.certPem, second.keyPem)).toBe('open');
    expect(await dial(first.caPem, first.certPem, first.keyPem)).toBe('HTTP 403');

    const stored = await loadIdentity(state);
    expect(stored?.certPem).toBe(second.certPem);
    expect(await readFile(join(dir, 'state', 'agent.key'), 'utf8')).toBe(second.keyPem);
    const { entries } = await controller.api.get('/v1/admin/audit?limit=50', AuditList);
    expect(entries.some((e) => e.action === 'host.cert.rotate')).toBe(true);
  });
});
