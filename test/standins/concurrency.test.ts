import { X509Certificate, createHash } from 'node:crypto';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INIT_CONFIG,
  JOIN_CONFIG,
  TOKEN,
  initConfigV1beta4,
  joinConfigV1beta4,
  standinLab,
  type StandinHost,
  type StandinLab,
} from './standin-fixture.js';

/**
 * Several hosts run the stand-ins at once against one cluster directory, as kctl's agents do:
 * no update may be lost, and a lock left behind by a killed process must not block the cluster.
 */

function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

const ADMIN = ['--kubeconfig', '/etc/kubernetes/admin.conf'];
const WORKERS = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6'];

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const p = execa(process.execPath, ['-e', '']);
  await p;
  const pid = p.pid;
  if (pid === undefined) throw new Error('no pid');
  return pid;
}

async function ownPidNamespace(): Promise<string> {
  return (await execa('readlink', ['/proc/self/ns/pid'])).stdout;
}

describe('stand-ins run by several hosts at once', () => {
  let lab: StandinLab;
  let cp1: StandinHost;
  let caHash: string;
  const lock = () => join(lab.clusterDir, 'state.lock');

  beforeAll(async () => {
    lab = await standinLab();
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    await cp1.write(
      INIT_CONFIG,
      initConfigV1beta4({ name: 'cp-1', ip: '10.0.5.11', version: 'v1.31.2', algorithm: 'ECDSA-P256' }),
    );
    const init = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(init.exitCode, init.stderr).toBe(0);
    caHash = spkiHash(await cp1.read('/etc/kubernetes/pki/ca.crt'));
  }, 120_000);
  afterAll(() => lab.cleanup());

  it('six workers joining at the same time are all registered', async () => {
    const hosts = await Promise.all(WORKERS.map((n) => lab.host(n, { version: 'v1.31.2' })));
    for (const h of hosts)
      await h.write(JOIN_CONFIG, joinConfigV1beta4({ name: h.name, caCertHash: caHash }));
    const results = await Promise.all(hosts.map((h) => h.run('kubeadm', ['join', '--config', JOIN_CONFIG])));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);

    const list = await cp1.run('kubectl', [...ADMIN, 'get', 'nodes', '-o', 'json']);
    const nodes = (JSON.parse(list.stdout) as { items: { metadata: { name: string } }[] }).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(['cp-1', ...WORKERS]);

    const joins = (await lab.calls()).filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'join');
    expect(joins.map((c) => c.node).sort()).toEqual(WORKERS);
    // they ran at the same time: some join started before another finished
    const overlap = joins.some((a) =>
      joins.some((b) => a !== b && Date.parse(a.startedAt) < Date.parse(b.time) && a.startedAt > b.startedAt),
    );
    expect(overlap).toBe(true);
  });

  it('tokens created at the same time on one control plane are all kept', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => cp1.run('kubeadm', ['token', 'create', '--ttl', '1h', ...ADMIN])),
    );
    const created = results.map((r) => r.stdout);
    const list = (await cp1.run('kubeadm', ['token', 'list', ...ADMIN])).stdout;
    for (const t of created) expect(list).toContain(t);
  });

  it('a lock left by a process that died is broken, and the command goes on', async () => {
    await mkdir(lock());
    await writeFile(join(lock(), 'owner'), `${await deadPid()} ${await ownPidNamespace()}`);
    const r = await cp1.run('kubeadm', ['token', 'create', ...ADMIN]);
    expect(r.exitCode, r.stderr).toBe(0);
    await expect(readFile(join(lock(), 'owner'), 'utf8')).rejects.toThrow();
  });

  it('a lock held by a live process is waited for, not broken', async () => {
    await mkdir(lock());
    await writeFile(join(lock(), 'owner'), `${process.pid} ${await ownPidNamespace()}`);
    const started = Date.now();
    const run = cp1.run('kubeadm', ['token', 'create', ...ADMIN]);
    await new Promise((r) => setTimeout(r, 1_500));
    // still waiting: our lock is intact
    expect(await readFile(join(lock(), 'owner'), 'utf8')).toContain(String(process.pid));
    await rm(lock(), { recursive: true });
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
  });

  it.each([
    ['is broken once it is old', 60_000, true],
    ['is waited for while it is fresh', 0, false],
  ])('a lock held by a process in another PID namespace %s', async (_name, ageMs, broken) => {
    await mkdir(lock());
    await writeFile(join(lock(), 'owner'), `1 pid:[1]`);
    const when = new Date(Date.now() - ageMs);
    await utimes(lock(), when, when);
    const run = cp1.run('kubeadm', ['token', 'create', ...ADMIN]);
    if (broken) {
      expect((await run).exitCode).toBe(0);
      return;
    }
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await readFile(join(lock(), 'owner'), 'utf8')).toBe('1 pid:[1]');
    await rm(lock(), { recursive: true });
    expect((await run).exitCode).toBe(0);
  });

  it('calls.jsonl records the working directory and never a token', async () => {
    const r = await cp1.run('kubeadm', ['token', 'create', TOKEN.replace('abcdef', 'cwdtst'), ...ADMIN], {
      cwd: cp1.root,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const calls = await lab.calls();
    const last = calls.at(-1);
    expect(last).toMatchObject({
      tool: 'kubeadm',
      cwd: cp1.root,
      argv: ['token', 'create', '[redacted]', ...ADMIN],
    });
    expect(JSON.stringify(calls)).not.toMatch(/[a-z0-9]{6}\.[a-z0-9]{16}/);
  });
});
