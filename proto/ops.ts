import { z } from 'zod';
import { CheckResult, PreflightSpec } from './checks.js';
import { HostFacts } from './facts.js';
import { KubeadmOps } from './kubeadm-ops.js';
import { NodeLabelOps } from './node-labels.js';
import { HostSpec } from './host-spec.js';
import { StepPlan, StepReport } from './results.js';
import { HealthRunArgs, HealthRunResult } from './health.js';
import { PackageIndexOps } from './package-index.js';
import { CertsOps, KubeconfigOps } from './certs.js';
import { EtcdOps } from './etcd-ops.js';
import { EtcdMemberOps } from './etcd-member-ops.js';
import { ApiserverEtcdOps } from './ops-apiserver-etcd.js';

/** The units `service.restart` may restart: kctl's own, never an arbitrary name from the wire. */
export const RestartableUnit = z.enum([
  'kubelet.service',
  'containerd.service',
  'haproxy.service',
  'keepalived.service',
  'etcd.service',
]);

/**
 * The closed set of operations an agent executes (S8). There is no generic exec.
 * Each op has a strict args schema (checked by the agent) and a result schema (checked by the controller).
 * Domain files add their ops here; nothing else defines an op.
 */
export const Ops = {
  /** liveness probe through the command path; `delayMs` lets tests hold a command in flight */
  ping: {
    args: z.strictObject({ delayMs: z.number().int().min(0).max(60_000).optional() }),
    result: z.strictObject({ pong: z.literal(true), ranAt: z.number().int(), runId: z.string() }),
  },
  'facts.get': {
    args: z.strictObject({}),
    result: HostFacts,
  },
  /** every preflight check that applies to the spec, run concurrently on the host */
  'preflight.run': {
    args: z.strictObject({ spec: PreflightSpec }),
    result: z.strictObject({ results: z.array(CheckResult).max(1000), durationMs: z.number().nonnegative() }),
  },
  /** what converging to the spec would change, step by step; touches nothing */
  'host.plan': {
    args: z.strictObject({ spec: HostSpec }),
    result: z.strictObject({ steps: z.array(StepPlan).max(1000), planHash: z.string() }),
  },
  /** converge to the spec; with planHash, refuses (plan_stale) unless the host still diffs to that plan */
  'host.apply': {
    args: z.strictObject({
      spec: HostSpec,
      planHash: z
        .string()
        .regex(/^sha256:[0-9a-f]{64}$/)
        .optional(),
      /** apply only these step ids (the others are reported skipped with their pending changes) */
      only: z
        .array(z.string().regex(/^[a-z0-9][A-Za-z0-9:/._@+-]{0,4200}$/))
        .max(300)
        .optional(),
    }),
    result: z.strictObject({
      reports: z.array(StepReport).max(1000),
      changed: z.boolean(),
      planHash: z.string(),
    }),
  },
  /**
   * Restart one of the units kctl runs (systemd reads its unit files again first): the kubelet after
   * its package moved in an upgrade. `restarted` is false when the unit is not installed.
   */
  'service.restart': {
    args: z.strictObject({ unit: RestartableUnit }),
    result: z.strictObject({ restarted: z.boolean() }),
  },
  /** health checks of a running node (docs/health.md): services, certificates, disks, swap, clock, drift */
  'health.run': { args: HealthRunArgs, result: HealthRunResult },
  ...KubeadmOps,
  ...NodeLabelOps,
  ...PackageIndexOps,
  ...CertsOps,
  ...KubeconfigOps,
  ...EtcdOps,
  ...EtcdMemberOps,
  ...ApiserverEtcdOps,
} as const;

export type OpName = keyof typeof Ops;
export type OpArgs<N extends OpName> = z.infer<(typeof Ops)[N]['args']>;
export type OpResult<N extends OpName> = z.infer<(typeof Ops)[N]['result']>;

export function isOpName(name: string): name is OpName {
  return Object.hasOwn(Ops, name);
}
