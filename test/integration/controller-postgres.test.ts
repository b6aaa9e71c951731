import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { HostList } from '../../proto/admin-api.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

/**
 * Issue 16: the controller process on PostgreSQL (controller.json `store`), the same path as
 * cluster-prepare.test.ts on SQLite: loopback agents enroll, plan -> apply -> plan converges, and
 * the state outlives a controller restart because it is in the database, not the data dir.
 */
describe('a controller on PostgreSQL', () => {
  let server: ThrowawayPostgres;
  let database: string;
  let controller: ControllerHandle;
  const agents: AgentHandle[] = [];
  let dir: string;
  let clusterFile: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });
  const online = async (): Promise<number> =>
    (await controller.api.get('/v1/admin/hosts', HostList)).hosts.filter((h) => h.online).length;
  const query = async (sql: string): Promise<Array<Record<string, unknown>>> => {
    const client = new pg.Client({ connectionString: server.url(database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    server = await startThrowawayPostgres();
    database = await server.createDatabase('kctl_controller');
    controller = await startControllerProcess({
      heartbeatIntervalMs: 500,
      settings: { store: server.url(database) },
    });
    const token = (await kctl(['token', 'create', '--uses', '2'], { env: env() })).stdout.trim();
    agents.push(await startAgentProcess({ name: 'pg-cp', controller, token }));
    agents.push(await startAgentProcess({ name: 'pg-w', controller, token }));
    await waitFor('agents online', async () => (await online()) === 2, 30_000);
    dir = await tempDir('cluster');
    clusterFile = join(dir, 'cluster.yaml');
    await writeFile(
      clusterFile,
      [
        'apiVersion: kctl.dev/v1alpha1',
        'kind: Cluster',
        'name: pgc',
        'kubernetesVersion: v1.31.2',
        'controlPlaneEndpoint: {host: k8s-api.pgc.internal, address: 10.9.9.9}',
        'cni: {plugin: none}',
        'packages: {source: preinstalled}',
        'hosts:',
        '  - {name: pg-cp, role: control-plane}',
        '  - {name: pg-w, role: worker}',
        '',
      ].join('\n'),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.proc.stop()));
    await controller?.proc.stop();
    await cleanup(
      [controller?.dataDir, dir, ...agents.flatMap((a) => [a.stateDir, a.hostRoot])].filter(
        (d): d is string => d !== undefined,
      ),
    );
    await server?.stop();
  });

  it('keeps its state in the database, not in the data dir', async () => {
    await expect(access(join(controller.dataDir, 'state.db'))).rejects.toMatchObject({ code: 'ENOENT' });
    const hosts = await query('SELECT name FROM hosts ORDER BY name');
    expect(hosts.map((h) => h.name)).toEqual(['pg-cp', 'pg-w']);
    // the store is named in the log with its password replaced
    expect(controller.proc.output()).toContain('***');
    expect(controller.proc.output()).not.toContain(server.password);
  });

  it('plan shows the changes, apply makes them, and a second plan shows none', async () => {
    const plan = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('~ sysctl net.ipv4.ip_forward: 0 -> 1');

    const apply = await kctl(['apply', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/== Prepare hosts: 2 task\(s\)/);
    expect(apply.stdout).toMatch(/apply succeeded/);
    for (const a of agents)
      expect(await readFile(join(a.hostRoot, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('1\n');
    // the journal is PostgreSQL's
    const applies = await query(`SELECT status FROM applies WHERE cluster = 'pgc'`);
    expect(applies).toEqual([{ status: 'succeeded' }]);

    const again = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(again.stdout).toContain('cluster pgc: no changes.');
    const second = await kctl(['apply', '-f', clusterFile, '--phases', 'prepare', '-o', 'json'], {
      env: env(),
    });
    expect(second.code).toBe(0);
    expect(
      second.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ type: 'no-changes', cluster: 'pgc' }]);
  });

  it('a restarted controller finds the hosts and the apply in the database; the agents reconnect', async () => {
    await controller.proc.stop();
    await controller.start();
    await waitFor('agents back online', async () => (await online()) === 2, 60_000);
    const status = await kctl(['status'], { env: env() });
    expect(status.stdout).toMatch(/cluster pgc: apply \S+ succeeded/);
    const again = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(again.stdout).toContain('cluster pgc: no changes.');
  }, 120_000);
});
