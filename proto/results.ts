import { createHash } from 'node:crypto';
import { z } from 'zod';
import { WireError } from './errors.js';
import { ImageChange } from './bundle-images.js';

/** One difference between a host and its spec, as `kctl plan` shows it and `apply` carries it out. */
export const Change = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('file'),
    path: z.string().max(4096),
    mode: z.number().int().min(0).max(0o7777),
    /** unified diff, or a placeholder for sensitive files */
    diff: z.string().max(512 * 1024),
    previousSha256: z.string().nullable(),
    nextSha256: z.string(),
    sensitive: z.boolean(),
    /** wanted owner, when the spec names one */
    uid: z.number().int().min(0).optional(),
    gid: z.number().int().min(0).optional(),
  }),
  z.strictObject({
    kind: z.literal('sysctl'),
    key: z.string().max(256),
    from: z.string().nullable(),
    to: z.string().max(256),
  }),
  z.strictObject({
    kind: z.literal('module'),
    name: z.string().max(64),
    action: z.enum(['load', 'missing']),
    /** what needs it, e.g. "kube-proxy mode ipvs"; named in the failure */
    requiredFor: z.string().max(128),
  }),
  z.strictObject({ kind: z.literal('swapoff'), device: z.string().max(4096) }),
  z.strictObject({ kind: z.literal('fstab-comment'), line: z.string().max(4096) }),
  z.strictObject({ kind: z.literal('unit-mask'), unit: z.string().max(256) }),
  z.strictObject({
    kind: z.literal('service'),
    unit: z.string().max(256),
    action: z.enum(['enable', 'start', 'restart']),
  }),
  z.strictObject({
    kind: z.literal('package'),
    name: z.string().max(128),
    from: z.string().nullable(),
    to: z.string().max(128),
  }),
  z.strictObject({ kind: z.literal('package-hold'), name: z.string().max(128) }),
  /**
   * A unit restarted because a change beside it in the same step touches what it reads (a config
   * file, its package). Pending only while that change is: converge restarts it after every step.
   */
  z.strictObject({
    kind: z.literal('service-restart'),
    unit: z.string().max(256),
    reason: z.string().max(512),
  }),
  z.strictObject({ kind: z.literal('package-index'), reason: z.string().max(256) }),
  /** the host's CA bundle lacks a kctl-written anchor: the distribution's refresh program runs */
  z.strictObject({
    kind: z.literal('trust-store'),
    program: z.enum(['update-ca-certificates', 'update-ca-trust']),
    reason: z.string().max(512),
  }),
  /** one file of the offline bundle's synced copy: fetched and checked, or removed */
  z.strictObject({
    kind: z.literal('bundle-file'),
    path: z.string().max(4096),
    action: z.enum(['download', 'remove']),
    /** the signed manifest's hash and size for a download; null for a removal */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    size: z.number().int().min(0).nullable(),
    reason: z.enum(['missing', 'differs', 'not in the manifest']),
  }),
  /** an image of the bundle imported into containerd's k8s.io namespace (proto/bundle-images.ts) */
  ImageChange,
]);
export type Change = z.infer<typeof Change>;

export const StepPlan = z.strictObject({
  stepId: z.string().max(256),
  title: z.string().max(512),
  changes: z.array(Change).max(10_000),
});
export type StepPlan = z.infer<typeof StepPlan>;

export const StepReport = z.strictObject({
  stepId: z.string().max(256),
  title: z.string().max(512),
  status: z.enum(['unchanged', 'applied', 'failed', 'skipped']),
  changes: z.array(Change).max(10_000),
  durationMs: z.number().nonnegative(),
  error: WireError.optional(),
});
export type StepReport = z.infer<typeof StepReport>;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Identity of a host plan: apply with a plan hash refuses when the host has moved on since. */
export function planHash(plans: readonly StepPlan[]): string {
  return `sha256:${createHash('sha256').update(canonical(plans)).digest('hex')}`;
}
