import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStatusResponse } from '../../proto/etcd-ops.js';
import { HostList } from '../../proto/admin-api.js';
import {
  cleanup,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';
import { startRealEtcd, type RealEtcd } from './etcd-real.js';
import { runKctl } from '../../controller/cli/program.js';
import { defaultContext, type CliContext } from '../../controller/cli/context.js';

/** kctl in this process (its start-up under tsx takes seconds on a loaded machine): same code, same exit codes. */
async function kctlHere(
  clientConfig: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    ...defaultContext(),
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
  };
  const code = await runKctl(['--config', clientConfig, ...args], ctx);
  return { code, stdout, stderr };
}

/**
 * `kctl etcd status` and `kctl etcd snapshot` end to end on loopback: kctl, a controller process,
 * an agent process on a control plane's fixture root, and a REAL three-member etcd (Debian's etcd
 * 3.4) that cluster.yaml names as etcd.mode external, the control plane holding the client pair
 * where kctl puts it. The snapshot must arrive 0600 with a matching .sha256, readable by
 * `etcdctl snapshot status`, and leave no copy on the host and no trace in a journal or log.
 */
describe('kctl etcd status and kctl etcd snapshot through a controller and an agent', () => {
  let dir = '';
  let etcd: RealEtcd;
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let clusterFile = '';

  beforeAll(async () => {
    dir = await tempDir('etcd-cmd');
    etcd = await startRealEtcd(join(dir, 'etcd'), 3);
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const token = (await kctlHere(controller.clientConfig, ['token', 'create'])).stdout.trim();
    const root = await makeHostRoot('cp-1', {
      '/proc/net/fib_trie':
        'Local:\n  +-- 198.18.0.0/15 2 0 2\n     |-- 198.18.1.11\n        /32 host LOCAL\n',
    });
    await etcd.installClientFiles(root);
    agent = await startAgentProcess({ name: 'cp-1', controller, token, hostRoot: root });
    await waitFor(
      'the agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      60_000,
    );
    const indent = (pem: string): string => pem.trim().replaceAll('\n', '\n      ');
    clusterFile = join(dir, 'cluster.yaml');
    await writeFile(
      clusterFile,
      [
        'apiVersion: kctl.dev/v1alpha1',
        'kind: Cluster',
        'name: ext',
        'kubernetesVersion: v1.31.2',
        'controlPlaneEndpoint: {host: 198.18.1.11, port: 6443}',
        'packages: {source: preinstalled}',
        'etcd:',
        '  mode: external',
        `  endpoints: [${etcd.endpoints.join(', ')}]`,
        `  caCert: |\n      ${indent(etcd.pki.ca.certPem)}`,
        `  clientCert: |\n      ${indent(etcd.pki.apiserverClient.certPem)}`,
        `  clientKey: |\n      ${indent(etcd.pki.apiserverClient.keyPem)}`,
        'hosts:',
        '  - {name: cp-1, role: control-plane}',
        '',
      ].join('\n'),
    );
  }, 120_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await etcd?.close();
    await cleanup(
      [dir, controller?.dataDir ?? '', agent?.stateDir ?? '', agent?.hostRoot ?? ''].filter(Boolean),
    );
  });

  it('kctl etcd status: three healthy members and their leader, as JSON and as a table, exit 0', async () => {
    const json = await kctlHere(controller.clientConfig, ['etcd', 'status', '-f', clusterFile, '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const r = EtcdStatusResponse.parse(JSON.parse(json.stdout));
    expect(r).toMatchObject({ cluster: 'ext', mode: 'external', host: 'cp-1' });
    expect(r.status.healthy).toBe(true);
    expect(r.status.members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    const text = await kctlHere(controller.clientConfig, ['etcd', 'status', '-f', clusterFile]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('etcd of cluster ext (external), read on cp-1');
    expect(text.stdout).toContain('healthy: 3 member(s)');
    expect(text.stdout).toMatch(/^\S+\s+m\d\s+https:\/\/127\.0\.0\.1:\d+\s+yes\s+healthy\s+/m);
  }, 60_000);

  it('kctl etcd snapshot: FILE 0600 and FILE.sha256 that match, etcdctl reads it, no copy left on the host, no trace in journal or logs', async () => {
    // one argument may not exceed 128 KiB (MAX_ARG_STRLEN)
    for (let i = 0; i < 10; i++) {
      const put = await etcd.etcdctl(['put', `/registry/secrets/default/s${i}`, 'x'.repeat(100_000)]);
      expect(put.exitCode, put.stderr).toBe(0);
    }
    const out = join(dir, 'backup', 'etcd.db');
    await execa('mkdir', ['-p', join(dir, 'backup')]);
    const r = await kctlHere(controller.clientConfig, ['etcd', 'snapshot', '-f', clusterFile, '--out', out]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const bytes = await readFile(out);
    expect(bytes.length).toBeGreaterThan(900_000); // more than one 512 KiB piece
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(r.stdout).toContain(`sha256 ${sha256}`);
    expect(await readFile(`${out}.sha256`, 'utf8')).toBe(`${sha256}  etcd.db\n`);
    const check = await execa('sha256sum', ['-c', 'etcd.db.sha256'], { cwd: join(dir, 'backup') });
    expect(check.stdout).toContain('etcd.db: OK');
    const status = await execa('/usr/bin/etcdctl', ['-w', 'json', 'snapshot', 'status', out], {
      env: { ETCDCTL_API: '3' },
    });
    expect((JSON.parse(status.stdout) as { totalKey: number }).totalKey).toBeGreaterThanOrEqual(3);
    expect(await readdir(dir, { recursive: true })).not.toContain('.etcd.db.kctl-tmp');

    // the agent's copy is gone; its README stays
    const left = await readdir(join(agent.hostRoot, 'var/lib/kctl-agent/etcd-snapshots'));
    expect(left).toEqual(['README']);
    // the bytes went through no journal and no log: 'xxx' in base64 is 'eHh4'
    const needle = 'eHh4eHh4eHh4eHh4';
    const journal = join(agent.stateDir, 'state', 'journal');
    for (const f of await readdir(journal))
      expect(await readFile(join(journal, f), 'utf8'), f).not.toContain(needle);
    expect(agent.proc.output()).not.toContain(needle);
    expect(controller.proc.output()).not.toContain(needle);
    const audit = await kctlHere(controller.clientConfig, ['audit', '-o', 'json']);
    expect(audit.stdout).toContain('etcd.snapshot');
  }, 60_000);

  it('kctl etcd status exits 1 and names the member that is down', async () => {
    await etcd.stop('m3');
    const r = await waitFor(
      'a leader among the other two',
      async () => {
        const x = await kctlHere(controller.clientConfig, ['etcd', 'status', '-f', clusterFile]);
        return /m1 .* healthy/.test(x.stdout) && /m2 .* healthy/.test(x.stdout) ? x : undefined;
      },
      14_000,
      200,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('UNHEALTHY: 1 of 3 member(s) unhealthy');
    expect(r.stdout).toMatch(/m3\s+https:\/\/127\.0\.0\.1:\d+\s+no\s+UNHEALTHY/);
  }, 60_000);
});
