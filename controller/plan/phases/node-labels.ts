import type { NodeStatus } from '../../../proto/kubeadm-ops.js';
import type { OpArgs } from '../../../proto/ops.js';
import {
  CONTROL_PLANE_TAINT,
  formatTaint,
  managedAnnotationValue,
  knownTaint,
  taintId,
  type NodeTaint,
} from '../../../proto/node-labels.js';
import { desiredTaints } from '../../render/node-registration.js';
import { phase, type PlanningContext } from '../phase.js';
import type { PlannedHost } from '../planned-host.js';

type LabelArgs = Omit<OpArgs<'kubectl.label'>, 'node'>;
type TaintArgs = Omit<OpArgs<'kubectl.taint'>, 'node'>;

/** What one node's labels and taints need: either part absent when it is already right. */
export interface NodeLabelsInput {
  node: string;
  labels?: LabelArgs;
  taints?: TaintArgs;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  managedAnnotationValue(a) === managedAnnotationValue(b);
const plain = (t: NodeTaint): NodeTaint => ({
  key: t.key,
  ...(t.value !== undefined && t.value !== '' ? { value: t.value } : {}),
  effect: t.effect,
});

/**
 * The label change of one node: cluster.yaml's labels where the node differs, and the labels kctl
 * set before (its annotation) that cluster.yaml no longer names. An operator's labels stay.
 * `node` undefined: the node registers in this apply; kctl sets everything it manages.
 */
export function labelChange(host: PlannedHost, node: NodeStatus | undefined): LabelArgs | undefined {
  const want = host.nodeLabels ?? {};
  const managed = Object.keys(want);
  if (node === undefined) return managed.length > 0 ? { set: { ...want }, remove: [], managed } : undefined;
  const have = node.labels ?? {};
  const set = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
  const remove = (node.managed?.labels ?? []).filter((k) => !(k in want) && k in have);
  const unchanged = Object.keys(set).length === 0 && remove.length === 0;
  if (unchanged && sameSet(managed, node.managed?.labels ?? [])) return undefined;
  return { set, remove, managed };
}

/**
 * The taint change of one node: its nodeTaints (and the control-plane taint unless schedulable)
 * where missing or with another value; taints kctl set before and no longer wants, and the
 * control-plane taint of a schedulable control plane, removed. kctl's annotation lists nodeTaints only.
 */
export function taintChange(host: PlannedHost, node: NodeStatus | undefined): TaintArgs | undefined {
  if (host.role !== 'control-plane' && host.role !== 'worker') return undefined;
  const managed = (host.nodeTaints ?? []).map(plain);
  // a node that registers in this apply gets its taints from kubeadm's nodeRegistration
  if (node === undefined) return managed.length > 0 ? { add: [], remove: [], managed } : undefined;
  const want = desiredTaints({ ...host, role: host.role }).map(plain);
  const have = (node.taints ?? []).flatMap((t) => {
    const known = knownTaint(t);
    return known ? [known] : [];
  });
  const haveById = new Map(have.map((t) => [taintId(t), t]));
  const wantIds = new Set(want.map(taintId));
  const add = want.filter((t) => {
    const now = haveById.get(taintId(t));
    return now === undefined || (now.value ?? '') !== (t.value ?? '');
  });
  const dropIds = [
    ...(node.managed?.taints ?? []),
    ...(host.role === 'control-plane' && host.schedulable === true ? [taintId(CONTROL_PLANE_TAINT)] : []),
  ].filter((id) => !wantIds.has(id));
  const remove = [...new Set(dropIds)].flatMap((id) => {
    const t = haveById.get(id);
    return t ? [t] : [];
  });
  const ids = managed.map(taintId);
  if (add.length === 0 && remove.length === 0 && sameSet(ids, node.managed?.taints ?? [])) return undefined;
  return { add, remove, managed };
}

function describe(input: NodeLabelsInput): string {
  const parts: string[] = [];
  const l = input.labels;
  if (l) {
    const set = Object.entries(l.set).map(([k, v]) => `${k}=${v}`);
    const remove = l.remove.map((k) => `${k}-`);
    if (set.length + remove.length > 0)
      parts.push(`kubectl label node ${input.node} ${[...set, ...remove].join(' ')}`);
    else parts.push(`record kctl's labels of ${input.node}`);
  }
  const t = input.taints;
  if (t) {
    const changes = [...t.add.map(formatTaint), ...t.remove.map((x) => `${taintId(x)}-`)];
    if (changes.length > 0) parts.push(`kubectl taint node ${input.node} ${changes.join(' ')}`);
    else parts.push(`record kctl's taints of ${input.node}`);
  }
  return parts.join('; ');
}

/** One task per node whose labels or taints differ from cluster.yaml, run on a control plane with admin.conf. */
function nodeLabelTasks(c: PlanningContext) {
  const admin = c.observed.adminHost ?? c.cluster.first?.name;
  if (admin === undefined) return [];
  const nodes = c.observed.nodes;
  return [...c.cluster.hosts.values()].flatMap((h) => {
    const node = nodes?.find((n) => n.name === h.name);
    // a node the API server cannot tell about now (list unreadable), or whose report carries no
    // labels and taints (an agent older than this field), is left for the next plan
    if (node === undefined && nodes === undefined && c.observed.adminHost !== undefined) return [];
    if (node !== undefined && (node.labels === undefined || node.taints === undefined)) return [];
    const labels = labelChange(h, node);
    const taints = taintChange(h, node);
    if (!labels && !taints) return [];
    const input: NodeLabelsInput = {
      node: h.name,
      ...(labels ? { labels } : {}),
      ...(taints ? { taints } : {}),
    };
    return [{ host: admin, title: `labels and taints of ${h.name}`, input, detail: describe(input) }];
  });
}

export const nodeLabelsPhase = phase<NodeLabelsInput>({
  id: 'node-labels',
  operation: 'apply',
  title: 'Node labels and taints',
  summary: 'hosts[].nodeLabels, nodeTaints and schedulable, set with kubectl on a control plane',
  mode: 'serial',
  concurrency: () => 1,
  tasks: nodeLabelTasks,
  async run(input, host, t) {
    if (input.labels) await t.call(host, 'kubectl.label', { node: input.node, ...input.labels });
    if (input.taints) await t.call(host, 'kubectl.taint', { node: input.node, ...input.taints });
    return { node: input.node, labels: input.labels !== undefined, taints: input.taints !== undefined };
  },
});
