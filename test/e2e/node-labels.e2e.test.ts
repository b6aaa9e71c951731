import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, updateState, type NodeRecord } from '../standins/cluster-state.js';
import { kctl } from '../integration/harness.js';
import { labHosts, startLab, type Lab } from '../integration/ha-lab.js';

/**
 * Not in `npm test` (a controller, two agents and two whole applies: about a minute); scripts/e2e.sh
 * runs it with the rest, and it needs no root: `npx vitest run --config test/e2e/vitest.e2e.config.ts
 * test/e2e/node-labels.e2e.test.ts`.
 *
 * Issue 14 part 7 on the stand-ins: hosts[].nodeLabels and nodeTaints reach the nodes at join
 * (kubeadm's nodeRegistration) and through kubectl label/taint; a second plan is empty; a change in
 * cluster.yaml is planned and applied, removing only what kctl set (an operator's label stays), and
 * `schedulable: true` takes the control-plane taint off.
 */
const node = (lab: Lab, name: string): NodeRecord => {
  const n = readState(lab.clusterDir).nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
};
const taints = (n: NodeRecord): string[] =>
  n.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).sort();

describe('node labels and taints on a one-control-plane, one-worker stand-in cluster', () => {
  let lab: Lab;
  let text = '';
  beforeAll(async () => {
    lab = await startLab({ hosts: labHosts(1, 1) });
    text = (await readFile(lab.clusterFile, 'utf8')).replace(
      '  - {name: w-1, role: worker}',
      [
        '  - name: w-1',
        '    role: worker',
        "    nodeLabels: {node-role.kubernetes.io/worker: '', example.com/tier: gold, pool: a}",
        "    nodeTaints: ['dedicated=gpu:NoSchedule', 'spot:PreferNoSchedule']",
      ].join('\n'),
    );
    await writeFile(lab.clusterFile, text);
  }, 120_000);
  afterAll(() => lab.close());

  it('sets them at join and with kubectl, then keeps them in step', { timeout: 240_000 }, async () => {
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('== Node labels and taints');
    expect(plan.stdout).toContain(
      'kubectl label node w-1 node-role.kubernetes.io/worker= example.com/tier=gold pool=a',
    );

    const apply = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const calls = await lab.calls();
    expect(
      calls.filter((c) => c.exitCode !== 0),
      'every stand-in call succeeded',
    ).toEqual([]);
    // the kubelet registered with the labels it may set itself; the node-role label came by kubectl
    const join = calls.find((c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.node === 'w-1');
    expect(join).toBeDefined();
    const labelCalls = calls.filter((c) => c.tool === 'kubectl' && c.argv.includes('label'));
    expect(labelCalls.map((c) => c.argv.slice(c.argv.indexOf('label')))).toEqual([
      [
        'label',
        'node',
        'w-1',
        '--overwrite',
        'node-role.kubernetes.io/worker=',
        'example.com/tier=gold',
        'pool=a',
      ],
    ]);
    let w1 = node(lab, 'w-1');
    expect(w1.labels).toMatchObject({
      'node-role.kubernetes.io/worker': '',
      'example.com/tier': 'gold',
      pool: 'a',
    });
    expect(taints(w1)).toEqual(['dedicated=gpu:NoSchedule', 'spot:PreferNoSchedule']);
    expect(w1.annotations?.['kctl.dev/node-labels']).toBe(
      'example.com/tier,node-role.kubernetes.io/worker,pool',
    );
    expect(w1.annotations?.['kctl.dev/node-taints']).toBe('dedicated:NoSchedule,spot:PreferNoSchedule');
    expect(taints(node(lab, 'cp-1'))).toEqual(['node-role.kubernetes.io/control-plane:NoSchedule']);

    const again = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('== Node labels and taints');
    expect(again.stdout).toMatch(/nothing to do|no changes/i);

    // an operator's own label and taint, which kctl must leave alone
    const before = calls.length;
    await updateState(lab.clusterDir, (state) => {
      const n = state.nodes.find((x) => x.name === 'w-1');
      if (!n) throw new Error('no node w-1');
      n.labels.team = 'infra';
      n.taints.push({ key: 'maintenance', value: 'soon', effect: 'NoExecute' });
    });

    // cluster.yaml changes: pool dropped, tier changed, one taint dropped and one changed, cp-1 schedulable
    text = text
      .replace(', pool: a}', '}')
      .replace('example.com/tier: gold', 'example.com/tier: silver')
      .replace("['dedicated=gpu:NoSchedule', 'spot:PreferNoSchedule']", "['dedicated=tpu:NoSchedule']")
      .replace(
        '  - {name: cp-1, role: control-plane}',
        '  - {name: cp-1, role: control-plane, schedulable: true}',
      );
    await writeFile(lab.clusterFile, text);
    const changed = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('kubectl label node w-1 example.com/tier=silver pool-');
    expect(changed.stdout).toContain(
      'kubectl taint node w-1 dedicated=tpu:NoSchedule spot:PreferNoSchedule-',
    );
    expect(changed.stdout).toContain(
      'kubectl taint node cp-1 node-role.kubernetes.io/control-plane:NoSchedule-',
    );

    const apply2 = await kctl(['apply', '-f', lab.clusterFile], { env: lab.env });
    expect(apply2.code, apply2.stdout + apply2.stderr).toBe(0);
    expect((await lab.calls()).slice(before).filter((c) => c.exitCode !== 0)).toEqual([]);
    w1 = node(lab, 'w-1');
    expect(w1.labels).toMatchObject({ 'example.com/tier': 'silver', team: 'infra' });
    expect(w1.labels).not.toHaveProperty('pool');
    expect(taints(w1)).toEqual(['dedicated=tpu:NoSchedule', 'maintenance=soon:NoExecute']);
    expect(taints(node(lab, 'cp-1'))).toEqual([]);

    const last = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).not.toContain('== Node labels and taints');
  });
});
