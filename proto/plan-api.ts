import { z } from 'zod';
import { Change } from './results.js';
import { WireError } from './errors.js';
import { PhaseId } from './phases.js';

const Issue = z.strictObject({ path: z.string(), message: z.string() });

/** A lifecycle operation instead of converging to the spec: remove one node, or reset every host. */
export const PlanOperation = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('remove-node'),
    node: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a node name')
      .max(253),
  }),
  z.strictObject({ kind: z.literal('reset') }),
  /** kubeadm certs renew all on every control plane, one at a time, with a static pod restart */
  z.strictObject({
    kind: z.literal('renew-certs'),
    /** how long each static pod manifest stays out (the kubelet's fileCheckFrequency, 20 s by default) */
    restartWaitSeconds: z.number().int().min(0).max(120).optional(),
  }),
]);
export type PlanOperation = z.infer<typeof PlanOperation>;

export const PlanRequest = z.strictObject({
  /** cluster.yaml as parsed by kctl; the controller validates it again */
  spec: z.record(z.string(), z.unknown()),
  cniManifest: z
    .string()
    .max(900 * 1024)
    .optional(),
  /** run only these phases, in plan order (e.g. preflight,prepare to get hosts ready ahead of time) */
  phases: z.array(PhaseId).min(1).optional(),
  /** absent: converge to the spec (day 1, added hosts, upgrades) */
  operation: PlanOperation.optional(),
});
export type PlanRequest = z.infer<typeof PlanRequest>;

export const PlannedTask = z.strictObject({
  taskId: z.string(),
  host: z.string(),
  title: z.string(),
  pending: z.boolean(),
  detail: z.string(),
  changes: z.array(Change),
});
export type PlannedTask = z.infer<typeof PlannedTask>;

export const PlanView = z.strictObject({
  cluster: z.string(),
  /** over every task's pending state and changes: `kctl apply plan.json` refuses when it moved */
  planHash: z.string(),
  warnings: z.array(Issue),
  phases: z.array(z.strictObject({ id: z.string(), title: z.string(), tasks: z.array(PlannedTask) })),
  /** true when nothing would change */
  empty: z.boolean(),
});
export type PlanView = z.infer<typeof PlanView>;

export const ApplyRequest = PlanRequest.extend({
  /** from a saved plan: refuse unless the hosts still plan to exactly this */
  planHash: z.string().optional(),
  /** destructive operations: the node's name (remove-node) or the cluster's name (reset), as the operator typed it */
  confirm: z.string().max(253).optional(),
});
export type ApplyRequest = z.infer<typeof ApplyRequest>;

/** One line of the apply event stream (NDJSON). */
export const ApplyEventLine = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('apply-start'),
    applyId: z.string(),
    resumed: z.boolean(),
    phases: z.array(z.strictObject({ id: z.string(), title: z.string(), tasks: z.number() })),
  }),
  /** the plan was empty: nothing ran, no apply was recorded */
  z.strictObject({ type: z.literal('no-changes'), cluster: z.string() }),
  /** the unfinished apply `applyId` was asked for something else: closed, not resumed; `changed` names each input */
  z.strictObject({
    type: z.literal('apply-superseded'),
    applyId: z.string(),
    cluster: z.string(),
    changed: z.array(z.string()),
    message: z.string(),
  }),
  z.strictObject({
    type: z.literal('phase-start'),
    phase: z.string(),
    title: z.string(),
    pending: z.number(),
    skipped: z.number(),
  }),
  z.strictObject({
    type: z.literal('task-start'),
    phase: z.string(),
    taskId: z.string(),
    host: z.string(),
    title: z.string(),
    attempt: z.number(),
  }),
  z.strictObject({
    type: z.literal('task-progress'),
    phase: z.string(),
    taskId: z.string(),
    host: z.string(),
    message: z.string(),
  }),
  z.strictObject({
    type: z.literal('task-done'),
    phase: z.string(),
    taskId: z.string(),
    host: z.string(),
    durationMs: z.number(),
  }),
  z.strictObject({
    type: z.literal('task-skipped'),
    phase: z.string(),
    taskId: z.string(),
    host: z.string(),
  }),
  z.strictObject({
    type: z.literal('task-failed'),
    phase: z.string(),
    taskId: z.string(),
    host: z.string(),
    error: WireError,
    willRetry: z.boolean(),
  }),
  z.strictObject({ type: z.literal('phase-done'), phase: z.string() }),
  z.strictObject({
    type: z.literal('apply-done'),
    applyId: z.string(),
    status: z.enum(['succeeded', 'failed']),
    durationMs: z.number(),
    error: WireError.optional(),
  }),
  z.strictObject({ type: z.literal('error'), error: WireError }),
]);
export type ApplyEventLine = z.infer<typeof ApplyEventLine>;

/** `kctl status`: the latest applies and where each stands. */
export const ApplyStatusView = z.strictObject({
  applies: z.array(
    z.strictObject({
      id: z.string(),
      cluster: z.string(),
      status: z.enum(['running', 'succeeded', 'failed']),
      startedAt: z.number(),
      finishedAt: z.number().nullable(),
      error: WireError.nullable(),
      phases: z.array(
        z.strictObject({
          id: z.string(),
          title: z.string(),
          total: z.number(),
          done: z.number(),
          failed: z.number(),
          running: z.array(z.string()),
          failures: z.array(z.strictObject({ host: z.string(), message: z.string() })),
        }),
      ),
    }),
  ),
});
export type ApplyStatusView = z.infer<typeof ApplyStatusView>;
