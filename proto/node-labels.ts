import { z } from 'zod';
import { K8sLabelKey, K8sLabelValue, K8sLabels, isK8sLabelKey, isK8sLabelValue } from './validators.js';

/**
 * Per-host node labels and taints from cluster.yaml (kubespray's node_labels / node_taints), and
 * the two ops that keep them in step on a running cluster. kctl remembers which labels and taints
 * it set in two node annotations, so it removes only its own and leaves an operator's alone.
 */

export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
export type TaintEffect = (typeof TAINT_EFFECTS)[number];

export interface NodeTaint {
  key: string;
  /** absent: a taint without a value (`key:Effect`) */
  value?: string | undefined;
  effect: TaintEffect;
}

/** kubeadm's taint on control planes; `schedulable: true` removes it. */
export const CONTROL_PLANE_TAINT: NodeTaint = {
  key: 'node-role.kubernetes.io/control-plane',
  effect: 'NoSchedule',
};

/** The node annotations that list what kctl set: label keys, and taints as `key:Effect`, comma-separated. */
export const MANAGED_LABELS_ANNOTATION = 'kctl.dev/node-labels';
export const MANAGED_TAINTS_ANNOTATION = 'kctl.dev/node-taints';

const TAINT_TEXT = /^([^=:\s]+)(?:=([^:\s]*))?:([A-Za-z]+)$/;

/** `key[=value]:Effect` as kubectl taint reads it; undefined when it is not one. */
export function parseTaint(text: string): NodeTaint | undefined {
  const m = TAINT_TEXT.exec(text);
  if (!m) return undefined;
  const [, key = '', value, effect = ''] = m;
  if (!isK8sLabelKey(key) || (value !== undefined && !isK8sLabelValue(value))) return undefined;
  if (!(TAINT_EFFECTS as readonly string[]).includes(effect)) return undefined;
  return { key, ...(value !== undefined && value !== '' ? { value } : {}), effect: effect as TaintEffect };
}

/** A taint as a node reports it, when its effect is one kctl knows. */
export function knownTaint(t: {
  key: string;
  value?: string | undefined;
  effect: string;
}): NodeTaint | undefined {
  if (!(TAINT_EFFECTS as readonly string[]).includes(t.effect)) return undefined;
  return {
    key: t.key,
    ...(t.value !== undefined && t.value !== '' ? { value: t.value } : {}),
    effect: t.effect as TaintEffect,
  };
}

/** `key=value:Effect`, or `key:Effect` without a value: what kubectl taint takes. */
export function formatTaint(t: NodeTaint): string {
  return `${t.key}${t.value !== undefined && t.value !== '' ? `=${t.value}` : ''}:${t.effect}`;
}

/** What identifies a taint on a node: kubectl and the API server allow one value per key and effect. */
export function taintId(t: Pick<NodeTaint, 'key' | 'effect'>): string {
  return `${t.key}:${t.effect}`;
}

const TaintObject = z.strictObject({
  key: K8sLabelKey,
  value: K8sLabelValue.optional(),
  effect: z.enum(TAINT_EFFECTS, { error: `must be one of ${TAINT_EFFECTS.join(', ')}` }),
});

const TAINT_FORM = `a taint key[=value]:Effect with a Kubernetes label key and value, and Effect ${TAINT_EFFECTS.join(', ')}`;

/**
 * A cluster.yaml taint: `key[=value]:Effect`, or `{key, value, effect}` (the parsed form, which a
 * spec the CLI already parsed carries to the controller). Either becomes a NodeTaint.
 */
export const TaintText = z
  .union([z.string().max(400), z.record(z.string(), z.unknown())], { error: `must be ${TAINT_FORM}` })
  .transform((v, ctx): NodeTaint => {
    if (typeof v === 'string') {
      const t = parseTaint(v);
      if (t !== undefined) return t;
      ctx.addIssue({ code: 'custom', message: `"${v.slice(0, 80)}" must be ${TAINT_FORM}` });
      return z.NEVER;
    }
    const r = TaintObject.safeParse(v);
    if (r.success)
      return { key: r.data.key, ...(r.data.value ? { value: r.data.value } : {}), effect: r.data.effect };
    ctx.addIssue({ code: 'custom', message: `must be ${TAINT_FORM} (${r.error.issues[0]?.message ?? ''})` });
    return z.NEVER;
  });

export const NodeLabelsSpec = K8sLabels;

const NodeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a node name')
  .max(253);
const Taint = TaintObject;

export const NodeLabelOps = {
  /**
   * `kubectl label node N --overwrite k=v… k-…` with the host's admin.conf, then the annotation
   * that lists the label keys kctl now manages (`managed`).
   */
  'kubectl.label': {
    args: z.strictObject({
      node: NodeName,
      set: z.record(K8sLabelKey, K8sLabelValue),
      remove: z.array(K8sLabelKey).max(256),
      managed: z.array(K8sLabelKey).max(256),
    }),
    result: z.strictObject({ labeled: z.literal(true) }),
  },
  /** `kubectl taint node N --overwrite k=v:E… k:E-…`, then the annotation listing the taints kctl manages */
  'kubectl.taint': {
    args: z.strictObject({
      node: NodeName,
      add: z.array(Taint).max(64),
      remove: z.array(Taint).max(64),
      managed: z.array(Taint).max(64),
    }),
    result: z.strictObject({ tainted: z.literal(true) }),
  },
} as const;

/** The managed annotation's text for a set of label keys or taints (sorted, so it compares stably). */
export function managedAnnotationValue(items: readonly string[]): string {
  return [...new Set(items)].sort().join(',');
}

/** The annotation's entries; an absent or empty annotation manages nothing. */
export function parseManagedAnnotation(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : value.split(',').filter((s) => s !== '');
}
