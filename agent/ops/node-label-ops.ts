import {
  MANAGED_LABELS_ANNOTATION,
  MANAGED_TAINTS_ANNOTATION,
  formatTaint,
  managedAnnotationValue,
  taintId,
} from '../../proto/node-labels.js';
import type { AgentOp, OpImplementations } from './registry.js';

const ADMIN_CONF = '/etc/kubernetes/admin.conf';
const TIMEOUT_MS = 60_000;

/** `kctl.dev/node-labels=a,b` or, when kctl manages nothing, `kctl.dev/node-labels-` (removed). */
function annotation(key: string, items: readonly string[]): string {
  return items.length > 0 ? `${key}=${managedAnnotationValue(items)}` : `${key}-`;
}

export const kubectlLabelOp: AgentOp<'kubectl.label'> = {
  name: 'kubectl.label',
  async run({ node, set, remove, managed }, { host }) {
    const changes = [...Object.entries(set).map(([k, v]) => `${k}=${v}`), ...remove.map((k) => `${k}-`)];
    const kubectl = ['--kubeconfig', ADMIN_CONF];
    if (changes.length > 0)
      await host.run('kubectl', [...kubectl, 'label', 'node', node, '--overwrite', ...changes], {
        timeoutMs: TIMEOUT_MS,
      });
    // after the labels: a failure in between leaves the old list, and the next plan repeats the change
    await host.run(
      'kubectl',
      [...kubectl, 'annotate', 'node', node, '--overwrite', annotation(MANAGED_LABELS_ANNOTATION, managed)],
      { timeoutMs: TIMEOUT_MS },
    );
    return { labeled: true };
  },
};

export const kubectlTaintOp: AgentOp<'kubectl.taint'> = {
  name: 'kubectl.taint',
  async run({ node, add, remove, managed }, { host }) {
    const changes = [...add.map(formatTaint), ...remove.map((t) => `${taintId(t)}-`)];
    const kubectl = ['--kubeconfig', ADMIN_CONF];
    if (changes.length > 0)
      await host.run('kubectl', [...kubectl, 'taint', 'node', node, '--overwrite', ...changes], {
        timeoutMs: TIMEOUT_MS,
      });
    await host.run(
      'kubectl',
      [
        ...kubectl,
        'annotate',
        'node',
        node,
        '--overwrite',
        annotation(
          MANAGED_TAINTS_ANNOTATION,
          managed.map((t) => taintId(t)),
        ),
      ],
      { timeoutMs: TIMEOUT_MS },
    );
    return { tainted: true };
  },
};

export const nodeLabelOps: Pick<OpImplementations, 'kubectl.label' | 'kubectl.taint'> = {
  'kubectl.label': kubectlLabelOp,
  'kubectl.taint': kubectlTaintOp,
};
