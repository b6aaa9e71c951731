import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostList } from '../../../proto/admin-api.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../support/postgres.js';
import {
  cleanup,
  kctl,
  localSessions,
  startControllerProcess,
  startProcess,
  waitFor,
  type ControllerHandle,
} from '../../integration/harness.js';
import { labHosts, startLab, type Lab } from '../../integration/ha-lab.js';

/**
 * Issue 16: three controller replicas on one PostgreSQL (one CA: B and C initialised with
 * --ca-from A) and 20 loopback agents whose agent.yaml lists all three, so they spread over them.
 * An apply of the 20-host cluster (kubeadm/kubelet/kubectl STAND-INS) starts through replica A,
 * which is killed -9 mid-apply: its agents reconnect to B and C within their backoff, the cluster
 * lock dies with A's database connection, and `kctl apply` through B resumes the same journaled
 * apply (commands for hosts on C relayed through PostgreSQL) to done. The stand-ins' call log shows
 * one kubeadm init and one join per other host; a plan through C is empty.
 */
const HOSTS = labHosts(3, 17);

interface Event {
  type: string;
  applyId?: string;
  resumed?: boolean;
  status?: string;
}

const parseEvents = (stdout: string): Event[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event)
    .filter((e) => e.type !== 'task-progress');

describe('three controller replicas, one killed -9 mid-apply (20 agents)', () => {
  let server: ThrowawayPostgres;
  let lab: Lab;
  const replicas: ControllerHandle[] = [];
  /** each replica's own sessions (kctl hosts shows a host online wherever its session is) */
  const onlineOnAll = async (alive: ControllerHandle[]): Promise<number[]> =>
    Promise.all(alive.map((c) => localSessions(c).catch(() => 0)));

  beforeAll(async () => {
    server = await startThrowawayPostgres();
    const store = server.url(await server.createDatabase('kctl_replicas_kill'));
    lab = await startLab({
      hosts: HOSTS,
      controllerSettings: { store },
      // the first agent's turn starts the other two replicas, with A's CA
      agentController: async (_host, a) => {
        if (replicas.length === 0) {
          replicas.push(a);
          for (let i = 0; i < 2; i++)
            replicas.push(
              await startControllerProcess({
                heartbeatIntervalMs: 500,
                settings: { store },
                caFrom: a.dataDir,
              }),
            );
        }
        return undefined;
      },
      agentExtra: () => ({ controllers: replicas.map((r) => r.url) }),
      countOnline: async () => (await onlineOnAll(replicas)).reduce((n, x) => n + x, 0),
    });
  }, 900_000);

  afterAll(async () => {
    await lab?.close();
    await Promise.all(replicas.slice(1).map((r) => r.proc.stop()));
    await cleanup(replicas.slice(1).map((r) => r.dataDir));
    await server?.stop();
  });

  it('the apply started through A resumes through B after A is killed; one init and one join per host; a later plan is empty', async () => {
    const [a, b, c] = replicas as [ControllerHandle, ControllerHandle, ControllerHandle];
    const spread = await onlineOnAll(replicas);
    expect(
      spread.filter((n) => n > 0).length,
      `agents spread over the replicas: ${spread.join('/')}`,
    ).toBeGreaterThanOrEqual(2);

    // 1. apply through A; kill A once a third of the tasks are done
    const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: { KCTL_CONFIG: a.clientConfig },
    });
    await waitFor(
      'a third of the tasks done through A',
      () =>
        Promise.resolve(
          parseEvents(apply.output()).filter((e) => e.type === 'task-done').length >= 12 ||
            apply.proc.exitCode !== null,
        ),
      300_000,
      5,
    );
    await a.proc.stop('SIGKILL');
    await apply.exited;
    const killed = parseEvents(apply.output());
    expect(
      killed.map((e) => e.type),
      'A was killed before the apply finished',
    ).not.toContain('apply-done');
    const killedId = killed.find((e) => e.type === 'apply-start')?.applyId;
    expect(killedId, `the apply through A never started:\n${apply.output().slice(-3000)}`).toBeDefined();

    // 2. every agent back, on B or C, within its backoff
    const killAt = Date.now();
    await waitFor(
      'all 20 agents on B and C',
      async () => (await onlineOnAll([b, c])).reduce((n, x) => n + x, 0) === HOSTS.length,
      120_000,
    );
    const backAfterMs = Date.now() - killAt;

    // 3. the same apply, resumed through B, to done
    const again = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], {
      env: { KCTL_CONFIG: b.clientConfig },
    });
    expect(again.code, `${again.stderr}${again.stdout.slice(-3000)}`).toBe(0);
    const events = parseEvents(again.stdout);
    expect(events[0], 'resumed, not started over').toMatchObject({
      type: 'apply-start',
      applyId: killedId,
      resumed: true,
    });
    expect(events.at(-1)).toMatchObject({ type: 'apply-done', status: 'succeeded' });

    // 4. one kubeadm init, one join per other host, whatever replica sent them
    const calls = await lab.calls();
    const ok = (sub: string) =>
      calls
        .filter((x) => x.tool === 'kubeadm' && x.argv[0] === sub && x.exitCode === 0)
        .map((x) => x.node ?? '')
        .sort();
    expect(ok('init')).toEqual(['cp-1']);
    expect(ok('join')).toEqual(
      HOSTS.map((h) => h.name)
        .filter((n) => n !== 'cp-1')
        .sort(),
    );

    // 5. nothing left to do, seen from the third replica
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: { KCTL_CONFIG: c.clientConfig } });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('cluster ha: no changes.');
    // every replica's host list shows all 20 online, wherever their sessions are
    for (const r of [b, c]) {
      const hosts = (await r.api.get('/v1/admin/hosts', HostList)).hosts;
      expect(hosts.filter((h) => h.online).length, r.url).toBe(HOSTS.length);
    }
    console.log(
      `replicas kill: agents spread ${spread.join('/')}, all back on B and C ${backAfterMs} ms after the kill`,
    );
  });
});
