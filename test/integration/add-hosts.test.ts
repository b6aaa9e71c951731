import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlanView } from '../../proto/plan-api.js';
import { kctl } from './harness.js';
import { labHosts, startLab, type Call, type Lab } from './ha-lab.js';

/**
 * Issue 4's lifecycle rule "new hosts in cluster.yaml -> apply joins only them", on the loopback lab
 * (real controller, real agents, temp host roots, kubeadm/kubelet/kubectl STAND-INS). Four agents are
 * enrolled up front; cluster.yaml first names cp-1 and w-1 only, then cp-2 and w-2 are added.
 */
const initsAndJoins = (calls: Call[]): string[] =>
  calls
    .filter(
      (c) => c.tool === 'kubeadm' && (c.argv[0] === 'init' || c.argv[0] === 'join') && c.argv[1] !== 'phase',
    )
    .map((c) => `${c.argv[0]}:${c.node}`);

/** every file under <root>/etc with its size and mtime: the existing hosts must come out untouched */
async function etcSnapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await readdir(join(root, 'etc'), { recursive: true })) {
    const s = await stat(join(root, 'etc', rel));
    if (s.isFile()) out[`etc/${rel}`] = `${s.size}@${s.mtimeMs}`;
  }
  return out;
}

/** phase id -> hosts with a pending task in it */
function pendingByPhase(view: PlanView): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of view.phases) {
    const hosts = p.tasks.filter((t) => t.pending).map((t) => t.host);
    if (hosts.length > 0) out[p.id] = hosts.sort();
  }
  return out;
}

describe('adding hosts to cluster.yaml', () => {
  let lab: Lab;
  let clusterYaml: string;
  const planJson = async (): Promise<PlanView> => {
    const r = await kctl(['plan', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
    expect(r.code, r.stderr).toBe(0);
    return PlanView.parse(JSON.parse(r.stdout));
  };
  const writeHosts = (names: string[]): Promise<void> =>
    writeFile(
      lab.clusterFile,
      clusterYaml.replace(
        /hosts:\n[\s\S]*$/,
        `hosts:\n${names.map((n) => `  - {name: ${n}, role: ${n.startsWith('cp') ? 'control-plane' : 'worker'}}`).join('\n')}\n`,
      ),
    );

  beforeAll(async () => {
    lab = await startLab({ hosts: labHosts(2, 2) });
    clusterYaml = await readFile(lab.clusterFile, 'utf8');
    await writeHosts(['cp-1', 'w-1']);
  }, 120_000);
  afterAll(() => lab.close());

  it(
    'plans and applies init/join only for the added control plane and worker; a second plan is empty',
    { timeout: 240_000 },
    async () => {
      const first = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(initsAndJoins(await lab.calls())).toEqual(['init:cp-1', 'join:w-1']);
      expect((await planJson()).empty).toBe(true);
      const root = (name: string): string => lab.agents.find((a) => a.name === name)!.hostRoot;
      const before = { cp1: await etcSnapshot(root('cp-1')), w1: await etcSnapshot(root('w-1')) };
      expect(Object.keys(before.w1)).toContain('etc/kubernetes/kubelet.conf');
      const callsBefore = (await lab.calls()).length;

      await writeHosts(['cp-1', 'cp-2', 'w-1', 'w-2']);
      const view = await planJson();
      expect(view.empty).toBe(false);
      const pending = pendingByPhase(view);
      // the new hosts are checked, prepared and joined; the cluster-wide tasks run through cp-1: join
      // material, the CNI manifest (kubectl apply, idempotent) and verify (until the new nodes are Ready)
      expect(pending).toEqual({
        preflight: ['cp-2', 'w-2'],
        prepare: ['cp-2', 'w-2'],
        'join-material': ['cp-1'],
        'control-planes': ['cp-2'],
        workers: ['w-2'],
        cni: ['cp-1'],
        verify: ['cp-1'],
      });
      // the plan holds only what differs: no task at all for w-1, and cp-1 only in the cluster-wide phases
      const clusterWide = new Set(['join-material', 'cni', 'verify']);
      for (const p of view.phases)
        for (const t of p.tasks) {
          expect(t.host, `${p.id}/${t.host}`).not.toBe('w-1');
          if (t.host === 'cp-1') expect(clusterWide.has(p.id), `${p.id}/${t.host}`).toBe(true);
        }

      const second = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
      expect(second.code, second.stdout + second.stderr).toBe(0);
      const started = second.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; taskId?: string })
        .filter((e) => e.type === 'task-start')
        .map((e) => e.taskId!);
      // the tasks of hosts already in the cluster are not even started: the plan holds only what differs
      expect(started.filter((id) => id.endsWith('/cp-1') || id.endsWith('/w-1')).sort()).toEqual([
        'cni/cp-1',
        'join-material/cp-1',
        'verify/cp-1',
      ]);
      expect(started.filter((id) => id.endsWith('/cp-2') || id.endsWith('/w-2')).sort()).toEqual(
        [
          'control-planes/cp-2',
          'prepare/cp-2',
          'prepare/w-2',
          'preflight/cp-2',
          'preflight/w-2',
          'workers/w-2',
        ].sort(),
      );
      const newCalls = (await lab.calls()).slice(callsBefore);
      expect(initsAndJoins(newCalls)).toEqual(['join:cp-2', 'join:w-2']);
      expect(newCalls.filter((c) => c.exitCode !== 0)).toEqual([]);
      // no kubeadm ran on the hosts that were there already, other than cp-1 minting join material
      expect(
        newCalls
          .filter(
            (c) =>
              c.tool === 'kubeadm' &&
              (c.node === 'w-1' || (c.node === 'cp-1' && c.argv[0] !== 'token' && c.argv[1] !== 'phase')),
          )
          .map((c) => `${c.node}: kubeadm ${c.argv.join(' ')}`),
      ).toEqual([]);
      expect({ cp1: await etcSnapshot(root('cp-1')), w1: await etcSnapshot(root('w-1')) }).toEqual(before);

      expect((await planJson()).empty).toBe(true);
      const again = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(again.stdout).toContain('cluster ha: no changes.');
    },
  );
});
