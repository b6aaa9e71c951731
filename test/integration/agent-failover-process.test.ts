import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { caPinOf } from '../../proto/ca-pin.js';
import { createCa } from '../../controller/pki.js';
import { cleanup, makeHostRoot, startProcess, tempDir, waitFor, type Proc } from './harness.js';
import { startReplicaStandIn, type ReplicaStandIn } from './replica-standin.js';

/**
 * Issue 16 part 3, the real agent process (agent/main.ts) with `controllers:` in agent.yaml and
 * three replica stand-ins sharing one CA: it enrolls on one, stays connected, moves to another when
 * that one dies, and after a restart dials the replica it was last connected to first.
 */
describe('the agent process with a list of controllers', () => {
  let replicas: ReplicaStandIn[];
  let stateDir: string;
  let hostRoot: string;
  let configFile: string;
  let agent: Proc | undefined;

  const live = (): ReplicaStandIn | undefined => replicas.find((r) => r.live());
  /** the controller of each "dialing" line the agent logged (JSON lines, debug level) */
  const dials = (proc: Proc): string[] =>
    proc
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"dialing"'))
      .map((l) => (JSON.parse(l) as { controller: string }).controller);

  beforeAll(async () => {
    const ca = await createCa({ commonName: 'failover fleet' });
    replicas = [];
    for (const name of ['a', 'b', 'c'])
      replicas.push(await startReplicaStandIn({ name, ca, hostId: 'h-proc', hostName: 'proc' }));
    stateDir = await tempDir('agent-failover');
    hostRoot = await makeHostRoot('proc');
    configFile = join(stateDir, 'agent.yaml');
    await writeFile(
      configFile,
      toYaml({
        controllers: replicas.map((r) => r.url),
        caPin: caPinOf(ca.certPem),
        token: 'abcdef.0123456789abcdef',
        stateDir: join(stateDir, 'state'),
        hostRoot,
        heartbeatIntervalMs: 500,
        reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
        logLevel: 'debug',
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    for (const r of replicas) await r.kill();
    await cleanup([stateDir, hostRoot]);
  });

  it('enrolls, connects, fails over when its replica dies, and remembers where it was', async () => {
    agent = startProcess(['agent/main.ts', '--config', configFile]);
    const first = await waitFor('a first session', () => Promise.resolve(live()), 60_000);
    // enrolled on the replica it then connected to, and that one is remembered
    expect(first.enrollments).toBe(1);
    expect(replicas.reduce((n, r) => n + r.enrollments, 0)).toBe(1);
    const remembered = join(stateDir, 'state', 'last-controller');
    const rememberedIs = (url: string) => () =>
      readFile(remembered, 'utf8').then(
        (text) => text.trim() === url,
        () => false,
      );
    await waitFor('the first replica remembered', rememberedIs(first.url));
    await first.kill();
    const second = await waitFor('a session on another replica', () => Promise.resolve(live()), 15_000);
    expect(second).not.toBe(first);
    await waitFor('the second replica remembered', rememberedIs(second.url));
    await first.start();

    await agent.stop();
    const sessionsBefore = second.sessions.length;
    agent = startProcess(['agent/main.ts', '--config', configFile]);
    await waitFor(
      'a session after the restart',
      () => Promise.resolve(second.sessions.length > sessionsBefore && second.live()),
      60_000,
    );
    // the first dial of the restarted agent went to the remembered replica, and no new enrollment
    expect(dials(agent)[0]).toBe(second.url);
    expect(replicas.reduce((n, r) => n + r.enrollments, 0)).toBe(1);
  });
});
