import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLeaderPid, labExec } from '../../lab/exec.js';
import { labDown } from '../../lab/teardown.js';
import { readLabState, type ProcessRef } from '../../lab/state.js';
import { labSkipReason } from '../lab/lab-env.js';
import { ApplyEventLine } from '../../proto/plan-api.js';
import {
  REPO,
  clusterYaml,
  kctl,
  killAndRestartController,
  standinCalls,
  startFleetLab,
  stopController,
  type FleetHost,
  type FleetLab,
} from './fleet-lab.js';

/**
 * Issue 15, etcd.mode managed on booted hosts through the engine: 2 control planes, 1 worker and
 * 5 hosts with role etcd, of which cluster.yaml first names 3. Real etcd (Debian's etcd-server and
 * etcd-client from the controller's offline bundle, installed by the agents with apt); kubeadm and
 * kubelet are stand-ins (test/standins). Then the operator adds the other two etcd hosts to
 * cluster.yaml: the growth runs as a plan, the controller is killed -9 after the first new member
 * is in, and the rerun resumes the same apply: five members, none twice.
 */
const reason = await labSkipReason();
if (reason !== undefined) console.warn(`e2e skipped: ${reason}`);

const WORK = '/var/tmp/kctl-e2e-etcd';
const LAB_DIR = '/var/tmp/kctl-e2e-etcd-lab';
const PORT = 17453;
const PKI = '/etc/kubernetes/pki';

interface Member {
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

describe.skipIf(reason !== undefined)(
  `managed etcd on a booted lab: 3 members, grown to 5 with a controller kill${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let lab: FleetLab;
    let controller: ProcessRef | undefined;
    const started = Date.now();
    const env = () => ({ KCTL_CONFIG: lab.clientConfig });
    const etcdHosts = (): FleetHost[] => lab.hosts.filter((h) => h.role === 'etcd');
    const firstThree = (): FleetHost[] => [
      ...lab.hosts.filter((h) => h.role !== 'etcd'),
      ...etcdHosts().slice(0, 3),
    ];
    /** the etcd hosts cluster.yaml names now */
    let members: FleetHost[] = [];
    const writeCluster = async (hosts: FleetHost[]) => {
      members = hosts.filter((h) => h.role === 'etcd');
      await writeFile(lab.clusterFile, clusterYaml(hosts, { etcd: '{mode: managed}' }));
    };

    /**
     * This machine's etcdctl (Debian's etcd-client, the same version as the hosts') run in the
     * network namespace of a control plane, with the files kctl wrote there (read through its
     * /proc/PID/root): what the API server on that host would see.
     */
    const etcdctlFromControlPlane = async (args: string[]) => {
      const host = (await readLabState(LAB_DIR))?.hosts.find((h) => h.name === 'lab-1');
      const pid = host && (await hostLeaderPid(host));
      if (pid === undefined) throw new Error('lab-1 is not running');
      const root = `/proc/${pid}/root`;
      const endpoints = members.map((h) => `https://${h.address}:2379`).join(',');
      return execa(
        'nsenter',
        [
          '-t',
          String(pid),
          '-n',
          'etcdctl',
          `--endpoints=${endpoints}`,
          `--cacert=${root}${PKI}/etcd/ca.crt`,
          `--cert=${root}${PKI}/apiserver-etcd-client.crt`,
          `--key=${root}${PKI}/apiserver-etcd-client.key`,
          '--dial-timeout=5s',
          '--command-timeout=10s',
          ...args,
        ],
        { reject: false, env: { ETCDCTL_API: '3' } },
      );
    };
    const memberList = async (): Promise<Member[]> => {
      const r = await etcdctlFromControlPlane(['member', 'list', '-w', 'json']);
      if (r.exitCode !== 0) throw new Error(`etcdctl member list: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { members: Member[] }).members;
    };
    const events = (stdout: string): ApplyEventLine[] =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => ApplyEventLine.parse(JSON.parse(l)));

    beforeAll(async () => {
      await labDown({ dir: LAB_DIR });
      lab = await startFleetLab(
        {
          work: WORK,
          labDir: LAB_DIR,
          controlPlanes: 2,
          workers: 1,
          etcdHosts: 5,
          port: PORT,
          log: (m) => console.log(`[etcd e2e ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`),
        },
        (ref) => (controller = ref),
      );
      await writeCluster(firstThree());
    });

    afterAll(async () => {
      if (process.env.KCTL_E2E_KEEP === '1') {
        console.log(`[etcd e2e] kept: lab ${LAB_DIR}, controller pid ${controller?.pid}, work ${WORK}`);
        return;
      }
      await stopController(controller);
      await labDown({ dir: LAB_DIR });
      await rm(WORK, { recursive: true, force: true });
      console.log(`[etcd e2e] wall time ${((Date.now() - started) / 1000).toFixed(1)}s`, lab?.timings);
    });

    it('apply forms a 3-member etcd the control planes reach with their client certificate; kubeadm gets etcd.external', async () => {
      const apply = await kctl(['apply', '-f', lab.clusterFile], env());
      expect(apply.exitCode, apply.stderr + apply.stdout.slice(-3000)).toBe(0);

      const health = await etcdctlFromControlPlane(['endpoint', 'health', '--cluster', '-w', 'json']);
      expect(health.exitCode, health.stderr).toBe(0);
      const endpoints = JSON.parse(health.stdout) as Array<{ endpoint: string; health: boolean }>;
      expect(endpoints.map((e) => e.health)).toEqual([true, true, true]);
      expect(endpoints.map((e) => e.endpoint).sort()).toEqual(
        etcdHosts()
          .slice(0, 3)
          .map((h) => `https://${h.address}:2379`)
          .sort(),
      );

      // the stand-in kubeadm init accepted etcd.external with exactly these endpoints
      const init = (await standinCalls(lab.clusterDir)).find(
        (c) => c.tool === 'kubeadm' && c.argv[0] === 'init' && c.exitCode === 0,
      ) as { etcdExternal?: { endpoints: string[] } } | undefined;
      expect(init?.etcdExternal?.endpoints.sort()).toEqual(
        etcdHosts()
          .slice(0, 3)
          .map((h) => `https://${h.address}:2379`)
          .sort(),
      );
      // etcd is a service of the etcd hosts, not a static pod of the control planes
      for (const h of etcdHosts().slice(0, 3)) {
        const active = await labExec(h.name, ['systemctl', 'is-active', 'etcd'], { dir: LAB_DIR });
        expect(active.stdout.trim(), h.name).toBe('active');
      }
      const pod = await labExec('lab-1', ['test', '-e', '/etc/kubernetes/manifests/etcd.yaml'], {
        dir: LAB_DIR,
      });
      expect(pod.exitCode, 'no stacked etcd manifest on the control plane').not.toBe(0);

      const plan = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('no changes');
    });

    it('kctl etcd snapshot writes a snapshot etcdctl snapshot status reads', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kctl-etcd-snap-'));
      try {
        const out = join(dir, 'etcd.db');
        const snap = await kctl(['etcd', 'snapshot', '-f', lab.clusterFile, '--out', out], env());
        expect(snap.exitCode, snap.stderr).toBe(0);
        const status = await execa('etcdctl', ['snapshot', 'status', out, '-w', 'json'], {
          reject: false,
          env: { ETCDCTL_API: '3' },
        });
        expect(status.exitCode, status.stderr).toBe(0);
        const s = JSON.parse(status.stdout) as { totalKey: number; totalSize: number };
        expect(s.totalSize).toBeGreaterThan(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('growing to 5 members is a plan; the controller killed -9 after the first new member: the rerun resumes, no member twice', async () => {
      await writeCluster(lab.hosts);
      const plan = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(plan.exitCode, plan.stderr).toBe(0);
      for (const h of etcdHosts().slice(3)) expect(plan.stdout).toContain(h.name);

      const sub = execa(
        join(REPO, 'node_modules/.bin/tsx'),
        [join(REPO, 'controller/cli/kctl.ts'), 'apply', '-f', lab.clusterFile, '-o', 'json'],
        { cwd: REPO, env: env(), reject: false },
      );
      let out = '';
      sub.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
      const firstGrown = (e: ApplyEventLine[]) =>
        e.some((x) => x.type === 'task-done' && x.phase === 'etcd-members');
      const deadline = Date.now() + 600_000;
      while (!firstGrown(events(out)) && sub.exitCode === null && Date.now() < deadline) await sleep(20);
      const before = events(out);
      expect(firstGrown(before), `no etcd-members task finished:\n${out.slice(-3000)}`).toBe(true);
      if (controller === undefined) throw new Error('no controller to kill');
      controller = await killAndRestartController(lab, controller);
      await sub;
      expect(
        before.map((e) => e.type),
        'killed before the growth finished',
      ).not.toContain('apply-done');
      const killedId = before.find((e) => e.type === 'apply-start');

      const again = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], env());
      expect(again.exitCode, again.stderr + again.stdout.slice(-3000)).toBe(0);
      const rerun = events(again.stdout);
      const start = rerun.find((e) => e.type === 'apply-start');
      expect(start?.type === 'apply-start' && start.resumed, 'the killed apply resumed').toBe(true);
      expect(start?.type === 'apply-start' && killedId?.type === 'apply-start' && start.applyId).toBe(
        killedId?.type === 'apply-start' ? killedId.applyId : 'none',
      );
      expect(rerun.at(-1)).toMatchObject({ type: 'apply-done', status: 'succeeded' });

      const list = await memberList();
      expect(list.map((m) => m.name).sort()).toEqual(
        etcdHosts()
          .map((h) => h.name)
          .sort(),
      );
      const peers = list.flatMap((m) => m.peerURLs);
      expect(new Set(peers).size, 'no peer URL twice').toBe(peers.length);
      expect(
        list.every((m) => m.clientURLs.length > 0),
        'every member started (an added, never started member has no client URL)',
      ).toBe(true);
      const health = await etcdctlFromControlPlane(['endpoint', 'health', '--cluster', '-w', 'json']);
      expect(health.exitCode, health.stderr).toBe(0);
      expect((JSON.parse(health.stdout) as Array<{ health: boolean }>).map((e) => e.health)).toEqual([
        true,
        true,
        true,
        true,
        true,
      ]);

      // the API servers follow (apiserver-etcd-endpoints): every control plane's manifest lists the
      // five client URLs, regenerated by kubeadm init phase control-plane apiserver one host at a
      // time, and the kubeadm-config ConfigMap (the stand-in's state.json) agrees
      const five = etcdHosts()
        .map((h) => `https://${h.address}:2379`)
        .sort();
      for (const cp of lab.hosts.filter((h) => h.role === 'control-plane')) {
        const manifest = await labExec(cp.name, ['cat', '/etc/kubernetes/manifests/kube-apiserver.yaml'], {
          dir: LAB_DIR,
        });
        const servers = /--etcd-servers=(\S+)/.exec(manifest.stdout)?.[1]?.split(',').sort();
        expect(servers, cp.name).toEqual(five);
      }
      const phaseRuns = (await standinCalls(lab.clusterDir)).filter(
        (c) => c.tool === 'kubeadm' && c.argv.slice(0, 4).join(' ') === 'init phase control-plane apiserver',
      );
      expect(
        phaseRuns
          .filter((c) => c.exitCode === 0)
          .map((c) => c.node)
          .sort(),
      ).toEqual(
        lab.hosts
          .filter((h) => h.role === 'control-plane')
          .map((h) => h.name)
          .sort(),
      );
      const state = JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
        cluster: { clusterConfiguration: { etcd?: { external?: { endpoints: string[] } } } };
      };
      expect(state.cluster.clusterConfiguration.etcd?.external?.endpoints.slice().sort()).toEqual(five);

      const empty = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(empty.exitCode, empty.stderr).toBe(0);
      expect(empty.stdout).toContain('no changes');
      const log = await readFile(lab.controllerLog, 'utf8');
      expect(log).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    });
  },
);
