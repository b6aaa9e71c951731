import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kctl } from './harness.js';
import { startLab, type Call, type Lab } from './ha-lab.js';

/**
 * Issue 4's "done when": 3 control planes + 2 workers (real controller, real agents on loopback,
 * temp host roots, the kubeadm/kubelet/kubectl STAND-INS from test/standins) go from kctl plan to
 * a finished kctl apply; the stand-ins accept every config they get; a second plan is empty; and a
 * failure injected into the second control plane's join is finished by a second apply without
 * re-running any completed step.
 */
/** kubeadm calls by subcommand; `init phase upload-certs` is not an init */
const kubeadm = (calls: Call[], sub: string): Call[] =>
  calls.filter((c) => c.tool === 'kubeadm' && c.argv[0] === sub && c.argv[1] !== 'phase');

describe('an HA cluster of 3 control planes and 2 workers on stand-ins', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
  }, 120_000);
  afterAll(() => lab.close());

  it(
    'plans every phase, applies to the end in order, and a second plan is empty',
    { timeout: 180_000 },
    async () => {
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.code, plan.stderr).toBe(0);
      for (const title of [
        '== Prepare hosts',
        '== Initialise the first control plane',
        '== Join control planes',
        '== Join workers',
      ]) {
        expect(plan.stdout).toContain(title);
      }

      const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      expect(apply.stdout).toMatch(/apply succeeded/);

      const log = await lab.calls();
      expect(
        log.filter((c) => c.exitCode !== 0),
        'every stand-in call succeeded',
      ).toEqual([]);
      const order = log
        .filter((c) => c.tool === 'kubeadm' && (c.argv[0] === 'init' || c.argv[0] === 'join'))
        .map((c) => `${c.argv[0]}:${c.node}`);
      expect(order[0]).toBe('init:cp-1');
      // control planes one at a time, before any worker
      expect(order.slice(1, 3)).toEqual(['join:cp-2', 'join:cp-3']);
      expect(order.slice(3).sort()).toEqual(['join:w-1', 'join:w-2']);
      // kube-vip on the first control plane ran init with super-admin.conf (>= 1.29: admin.conf has
      // no rights before init binds them) and moved to admin.conf once the cluster was up
      for (const a of lab.agents.slice(0, 3)) {
        expect(
          await readFile(join(a.hostRoot, 'etc/kubernetes/manifests/kube-vip.yaml'), 'utf8'),
        ).not.toContain('super-admin.conf');
      }
      for (const a of lab.agents) await access(join(a.hostRoot, 'etc/kubernetes/kubelet.conf'));
      // join secrets never reached a log, and the transient kubeadm configs are gone
      const text = lab.controller.proc.output() + lab.agents.map((a) => a.proc.output()).join('');
      expect(text).not.toMatch(/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/);
      for (const a of lab.agents) {
        await expect(access(join(a.hostRoot, 'var/lib/kctl-agent/run/kubeadm-join.yaml'))).rejects.toThrow();
      }

      const again = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(again.stdout).toContain('cluster ha: no changes.');
      const second = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(second.code).toBe(0);
      expect(kubeadm(await lab.calls(), 'init')).toHaveLength(1);
      expect(kubeadm(await lab.calls(), 'join')).toHaveLength(4);
    },
  );

  it(
    'upgrades one minor when cluster.yaml names it: the plan shows it, apply runs it in kubeadm order, the next plan is empty',
    { timeout: 180_000 },
    async () => {
      const text = await readFile(lab.clusterFile, 'utf8');
      const withVersion = async (v: string): Promise<void> =>
        writeFile(lab.clusterFile, text.replace('kubernetesVersion: v1.31.2', `kubernetesVersion: ${v}`));
      // refused at plan time, naming the field, before anything changes
      await withVersion('v1.33.0');
      const skip = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(skip.code).toBe(1);
      expect(skip.stderr).toContain('kubernetesVersion: v1.33.0 skips a minor');
      await withVersion('v1.30.4');
      const down = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/kubernetesVersion: v1\.30\.4 is older than .*kubeadm does not downgrade/);
      // packages are preinstalled here: the host image must bring the new kubeadm and kubelet first
      await withVersion('v1.32.1');
      const early = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(early.code).toBe(1);
      expect(early.stderr).toContain('packages.source preinstalled');
      // the kubelets run v1.31.2 (started as their units would at boot); then the image brings v1.32.1
      await lab.startKubelets();
      for (const a of lab.agents) await writeFile(join(a.hostRoot, 'etc/kctl-standin/version'), 'v1.32.1\n');

      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('== Upgrade the first control plane');
      expect(plan.stdout).toContain('cp-1: upgrade v1.31.2 -> v1.32.1');
      expect(plan.stdout).toContain('kubeadm upgrade apply v1.32.1');
      expect(plan.stdout).toContain('== Upgrade the other control planes (one at a time)');
      expect(plan.stdout).toContain('== Upgrade the workers');
      expect(plan.stdout).not.toContain('== Prepare hosts');

      const before = (await lab.calls()).length;
      const up = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(up.code, up.stdout + up.stderr).toBe(0);
      const calls = (await lab.calls())
        .slice(before)
        .filter(
          (c) =>
            c.argv[0] === 'upgrade' ||
            c.argv.includes('drain') ||
            c.argv.includes('uncordon') ||
            (c.tool === 'systemctl' && c.argv.includes('restart')),
        );
      const steps = calls.map((c) =>
        c.argv[0] === 'upgrade'
          ? `${c.argv[1]}:${c.node}`
          : c.tool === 'systemctl'
            ? `restart:${c.node}`
            : c.argv.includes('drain')
              ? `drain:${c.argv[c.argv.indexOf('drain') + 1]}`
              : `uncordon:${c.argv[c.argv.indexOf('uncordon') + 1]}`,
      );
      expect(steps.slice(0, 6)).toEqual([
        'plan:cp-1',
        'apply:cp-1',
        'drain:cp-1',
        'restart:cp-1',
        'uncordon:cp-1',
        'drain:cp-2',
      ]);
      for (const n of ['cp-2', 'cp-3', 'w-1', 'w-2']) {
        const mine = steps.filter((s) => s.endsWith(`:${n}`));
        expect(mine, n).toEqual([`drain:${n}`, `node:${n}`, `restart:${n}`, `uncordon:${n}`]);
      }
      expect(calls.every((c) => c.exitCode === 0)).toBe(true);
      // no node left cordoned, every node at the new version: nothing left to plan, and a second apply touches nothing
      const afterUpgrade = (await lab.calls()).length;
      const nodes = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(nodes.stdout).toContain('cluster ha: no changes.');
      const again = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('cluster ha: no changes.');
      const later = (await lab.calls()).slice(afterUpgrade);
      expect(
        later.filter((c) => c.argv[0] === 'upgrade' || c.argv.includes('drain') || c.tool === 'systemctl'),
      ).toEqual([]);
    },
  );

  it(
    'removes a worker (drain, reset, delete) and then resets the whole cluster',
    { timeout: 180_000 },
    async () => {
      const asked = await kctl(['node', 'remove', 'w-2', '-f', lab.clusterFile], { env: lab.env });
      expect(asked.code).toBe(1);
      expect(asked.stdout).toContain('w-2: drain, reset, delete');
      expect(asked.stderr).toContain('--yes');
      const remove = await kctl(['node', 'remove', 'w-2', '-f', lab.clusterFile, '--yes'], { env: lab.env });
      expect(remove.code, remove.stderr).toBe(0);
      expect(remove.stdout).toContain('apply succeeded');
      const calls = await lab.calls();
      const drain = calls.findIndex(
        (c) => c.tool === 'kubectl' && c.argv.includes('drain') && c.argv.includes('w-2'),
      );
      const reset = calls.findIndex((c) => c.tool === 'kubeadm' && c.argv[0] === 'reset' && c.node === 'w-2');
      const del = calls.findIndex(
        (c) => c.tool === 'kubectl' && c.argv.includes('delete') && c.argv.includes('w-2'),
      );
      expect(drain).toBeGreaterThanOrEqual(0);
      expect(reset).toBeGreaterThan(drain);
      expect(del).toBeGreaterThan(reset);
      await expect(access(join(lab.agents[4]!.hostRoot, 'etc/kubernetes/kubelet.conf'))).rejects.toThrow();

      const refused = await kctl(['reset', '-f', lab.clusterFile], { env: lab.env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--yes');
      const all = await kctl(['reset', '-f', lab.clusterFile, '--yes'], { env: lab.env });
      expect(all.code, all.stderr).toBe(0);
      for (const a of lab.agents)
        await expect(access(join(a.hostRoot, 'etc/kubernetes/admin.conf'))).rejects.toThrow();
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout).toContain('== Initialise the first control plane');
    },
  );
});

describe('a failure in the second control plane join', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ failJoinOnceOn: 'cp-2' });
  }, 120_000);
  afterAll(() => lab.close());

  it(
    'stops the apply there, and a second apply finishes without re-running any completed step',
    { timeout: 180_000 },
    async () => {
      const first = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
      expect(first.code).toBe(1);
      const events1 = first.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; taskId?: string; status?: string });
      expect(events1.at(-1)).toMatchObject({ type: 'apply-done', status: 'failed' });
      const done1 = events1.filter((e) => e.type === 'task-done').map((e) => e.taskId!);
      expect(done1).toContain('init/cp-1');
      expect(done1).not.toContain('control-planes/cp-2');
      expect(events1.some((e) => e.type === 'task-start' && e.taskId?.startsWith('workers/'))).toBe(false);

      const second = await kctl(['apply', '-f', lab.clusterFile, '-o', 'json'], { env: lab.env });
      expect(second.code, second.stdout).toBe(0);
      const events2 = second.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; taskId?: string; resumed?: boolean });
      expect(events2[0]).toMatchObject({ type: 'apply-start', resumed: true });
      const started2 = events2.filter((e) => e.type === 'task-start').map((e) => e.taskId!);
      for (const id of done1) expect(started2, `${id} ran again`).not.toContain(id);
      expect(started2[0]).toBe('control-planes/cp-2');

      const calls = await lab.calls();
      expect(kubeadm(calls, 'init')).toHaveLength(1);
      // a new apply holds no secrets from the old one: it minted fresh join material and re-uploaded the certificates
      expect(calls.some((c) => c.argv.join(' ').startsWith('init phase upload-certs'))).toBe(true);
      const joins = kubeadm(calls, 'join').map((c) => c.node);
      expect(joins.sort()).toEqual(['cp-2', 'cp-3', 'w-1', 'w-2']);
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      expect(plan.stdout).toContain('cluster ha: no changes.');
    },
  );
});
