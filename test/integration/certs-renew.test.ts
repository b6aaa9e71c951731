import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { CertsResponse } from '../../proto/certs.js';
import { AuditList } from '../../proto/admin-api.js';
import { ApplyEventLine } from '../../proto/plan-api.js';
import { kctl, startProcess, waitFor } from './harness.js';
import { startLab, type Lab } from './ha-lab.js';

/**
 * Issue 13, certificates: a cluster whose certificates the STAND-IN kubeadm made 362.5 days ago (its
 * clock set back for day 1, so every leaf expires in about 2.5 days) is seen expiring by
 * `kctl certs check`; `kctl certs renew` runs as a plan through the engine, is killed -9 after its
 * first control plane, and the rerun finishes the others: each control plane renewed exactly once,
 * its static pod manifests back in place, every renewed certificate good for a year.
 */
const DAY_MS = 86_400_000;
const events = (stdout: string): ApplyEventLine[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => ApplyEventLine.parse(JSON.parse(l)));

describe('kctl certs check and kctl certs renew', () => {
  let lab: Lab;
  const controlPlanes = ['cp-1', 'cp-2', 'cp-3'];
  const rootOf = (name: string): string => {
    const a = lab.agents.find((x) => x.name === name);
    if (!a) throw new Error(`no agent ${name}`);
    return a.hostRoot;
  };
  const check = async (): Promise<{ code: number | null; report: CertsResponse; text: string }> => {
    const json = await kctl(['certs', 'check', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
    const text = await kctl(['certs', 'check', '-f', lab.clusterFile], { env: lab.env });
    expect(text.code).toBe(json.code);
    return { code: json.code, report: CertsResponse.parse(JSON.parse(json.stdout)), text: text.stdout };
  };

  beforeAll(async () => {
    lab = await startLab();
    // the stand-in clock for day 1: 8700 h ago, so its one-year leaf certificates expire in ~2.5 days
    await writeFile(join(lab.clusterDir, 'now'), '-8700h\n');
    const day1 = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(day1.code, day1.stdout + day1.stderr).toBe(0);
    await rm(join(lab.clusterDir, 'now'));
  }, 300_000);
  afterAll(() => lab?.close());

  it('kctl certs check lists every host certificate soonest first and exits 2 for those expiring within 7 days', async () => {
    const { code, report, text } = await check();
    expect(code).toBe(2);
    const cp1 = report.hosts.find((h) => h.host === 'cp-1');
    const names = cp1?.certificates.map((c) => c.name) ?? [];
    for (const n of ['apiserver', 'etcd/server', 'front-proxy-client', 'admin.conf', 'ca', 'etcd/ca'])
      expect(names, n).toContain(n);
    const apiserver = cp1?.certificates.find((c) => c.name === 'apiserver');
    const left = (Date.parse(apiserver?.notAfter ?? '') - Date.now()) / DAY_MS;
    expect(left).toBeGreaterThan(1);
    expect(left).toBeLessThan(4);
    // CAs are ten years, and listed after the leaves: soonest first
    expect(cp1?.certificates.at(-1)?.kind).toBe('ca');
    expect(text).toMatch(/^cp-\d\s+\S+\s+\S+\s+2d\s+/m);
    // a worker has no kubeadm PKI of its own beyond the CA and its kubelet's client certificate
    const w1 = report.hosts.find((h) => h.host === 'w-1');
    expect(w1?.certificates.map((c) => c.kind).sort()).toEqual(['ca', 'kubelet']);
  });

  it(
    'kctl certs renew, killed -9 after its first control plane, resumes: each control plane renewed once, pods restarted, a year left',
    { timeout: 300_000 },
    async () => {
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout, 'a renewal is not drift: the cluster plan stays empty').toContain('no changes');
      const mark = (await lab.calls()).length;
      const run = startProcess(
        [
          'controller/cli/kctl.ts',
          'certs',
          'renew',
          '-f',
          lab.clusterFile,
          '--yes',
          '--restart-wait',
          '1',
          '-o',
          'json',
        ],
        { env: lab.env },
      );
      await waitFor(
        'the first control plane renewed',
        () => Promise.resolve(events(run.output()).some((e) => e.type === 'task-done')),
        120_000,
        5,
      );
      await lab.controller.proc.stop('SIGKILL');
      await run.exited;
      expect(events(run.output()).map((e) => e.type)).not.toContain('apply-done');
      await lab.controller.start();
      await waitFor('agents back', async () => (await lab.onlineCount()) === lab.hosts.length, 90_000);

      const again = await kctl(
        ['certs', 'renew', '-f', lab.clusterFile, '--yes', '--restart-wait', '1', '-o', 'json'],
        { env: lab.env },
      );
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const resumed = events(again.stdout);
      expect(resumed[0]?.type === 'apply-start' && resumed[0].resumed).toBe(true);
      expect(resumed.at(-1)).toMatchObject({ type: 'apply-done', status: 'succeeded' });

      const renewals = (await lab.calls())
        .slice(mark)
        .filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'certs' && c.argv[1] === 'renew')
        .map((c) => c.node ?? '?');
      expect(renewals.sort(), 'each control plane renewed exactly once').toEqual(controlPlanes);

      for (const cp of controlPlanes) {
        const manifests = await readdir(join(rootOf(cp), 'etc/kubernetes/manifests'));
        for (const pod of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
          expect(manifests, `${cp}: ${pod} back in place`).toContain(`${pod}.yaml`);
        const parked = await readdir(join(rootOf(cp), 'etc/kubernetes/kctl-parked-manifests')).catch(
          () => [],
        );
        expect(parked, `${cp}: nothing left parked`).toEqual([]);
      }
      const { report } = await check();
      for (const h of report.hosts.filter((x) => controlPlanes.includes(x.host))) {
        for (const c of h.certificates.filter((x) => x.kind === 'leaf' || x.kind === 'kubeconfig')) {
          const left = (Date.parse(c.notAfter ?? '') - Date.now()) / DAY_MS;
          expect(left, `${h.host} ${c.name}`).toBeGreaterThan(360);
        }
      }
      // the cluster still works with the renewed admin.conf: the stand-in kubectl accepts it
      const admin = await readFile(join(rootOf('cp-1'), 'etc/kubernetes/admin.conf'), 'utf8');
      expect(admin).toContain('client-certificate-data');
      await access(join(rootOf('cp-1'), 'etc/kubernetes/pki/apiserver.key'));
      // under load an agent may have dropped and be reconnecting: the plan needs every host
      await waitFor(
        'agents online for the plan',
        async () => (await lab.onlineCount()) === lab.hosts.length,
        90_000,
      );
      const after = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toContain('no changes');
    },
  );

  it(
    'kctl kubeconfig: a 0600 file the real kubectl reads, a credential signed by the cluster CA for this admin, in no log and no journal, audited',
    { timeout: 120_000 },
    async () => {
      const out = join(lab.dir, 'ha.kubeconfig');
      const r = await kctl(['kubeconfig', '-f', lab.clusterFile, '--out', out, '--validity-hours', '2'], {
        env: lab.env,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${out}`);
      expect((await stat(out)).mode & 0o777).toBe(0o600);

      // the real kubectl client this machine ships reads it (it never contacts the lab's VIP here)
      const kubectl = '/usr/bin/kubectl';
      if (!existsSync(kubectl)) throw new Error('/usr/bin/kubectl is missing (the machine image ships it)');
      const view = await promisify(execFile)(kubectl, ['--kubeconfig', out, 'config', 'view', '-o', 'json']);
      const config = JSON.parse(view.stdout) as {
        clusters: Array<{ name: string; cluster: { server: string } }>;
        users: Array<{ name: string }>;
        'current-context': string;
      };
      expect(config.clusters[0]).toMatchObject({
        name: 'ha',
        cluster: { server: 'https://198.18.1.100:6443' },
      });
      expect(config.users[0]?.name).toMatch(/^kctl:/);
      expect(config['current-context']).toBe(`${config.users[0]?.name}@ha`);

      // the certificate: this admin, the cluster-admins group, signed now by cp-1's cluster CA, 2 h
      const text = await readFile(out, 'utf8');
      const data = /client-certificate-data: (\S+)/.exec(text)?.[1] ?? '';
      const cert = new X509Certificate(Buffer.from(data, 'base64'));
      expect(cert.subject).toContain('O=kubeadm:cluster-admins');
      expect(cert.subject).toContain(`CN=${config.users[0]?.name ?? ''}`);
      const ca = new X509Certificate(await readFile(join(rootOf('cp-1'), 'etc/kubernetes/pki/ca.crt')));
      expect(cert.verify(ca.publicKey)).toBe(true);
      const hours = (Date.parse(cert.validTo) - Date.now()) / 3_600_000;
      expect(hours).toBeGreaterThan(1.5);
      expect(hours).toBeLessThanOrEqual(2.01);

      // the stand-in kubectl on a host accepts it as an admin of this cluster
      const inRoot = join(rootOf('cp-2'), 'root/.kube');
      await mkdir(inRoot, { recursive: true });
      await writeFile(join(inRoot, 'config'), text, { mode: 0o600 });
      const nodes = await promisify(execFile)(
        join(lab.dir, 'bin/kubectl'),
        ['--kubeconfig', '/root/.kube/config', 'get', 'nodes'],
        {
          env: { ...process.env, KCTL_HOST_ROOT: rootOf('cp-2') },
        },
      );
      expect(nodes.stdout).toContain('cp-1');

      // the key is nowhere but in the file: not in the controller's or any agent's log, not in a journal
      const key = /client-key-data: (\S+)/.exec(text)?.[1] ?? '';
      expect(key.length).toBeGreaterThan(100);
      expect(lab.controller.proc.output()).not.toContain(key.slice(0, 40));
      for (const a of lab.agents) {
        expect(a.proc.output(), a.name).not.toContain(key.slice(0, 40));
        const journal = join(a.stateDir, 'state/journal');
        const entries = await readdir(journal);
        expect(entries.length, `${a.name} journal is where the test looks`).toBeGreaterThan(0);
        for (const f of entries)
          expect(await readFile(join(journal, f), 'utf8'), `${a.name} journal ${f}`).not.toContain(
            key.slice(0, 40),
          );
      }
      const audit = await lab.controller.api.get('/v1/admin/audit?limit=20', AuditList);
      expect(audit.entries.find((e) => e.action === 'kubeconfig.issue')).toMatchObject({
        target: 'ha',
        details: { host: 'cp-1', validityHours: 2 },
      });
      const listed = await kctl(['audit', '--action', 'kubeconfig'], { env: lab.env });
      expect(listed.stdout).toMatch(/kubeconfig\.issue\s+ha\s/);
    },
  );
});
