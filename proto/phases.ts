import { z } from 'zod';

/**
 * Every phase kind the engine runs, in the order a plan runs them. The records behind these ids
 * (controller/plan/phases/) say everything else about a phase; this list is in proto only because
 * requests name phases (`--phases`) and the CLI's help lists them.
 */
export const PHASE_IDS = [
  'preflight',
  'load-balancer-checks',
  'load-balancers',
  'prepare',
  'etcd',
  'etcd-members',
  'apiserver-etcd-endpoints',
  'upgrade-first',
  'upgrade-control-planes',
  'upgrade-workers',
  'init',
  'join-material',
  'control-planes',
  'workers',
  'cni',
  'node-labels',
  'verify',
  'remove-node',
  'etcd-remove-member',
  'apiserver-etcd-after-removal',
  'reset',
  'renew-certs',
] as const;
export const PhaseId = z.enum(PHASE_IDS);
export type PhaseId = z.infer<typeof PhaseId>;

/** What a plan is for: converging to cluster.yaml (day 1, added hosts, upgrades), or a lifecycle operation. */
export const Operation = z.enum(['apply', 'remove-node', 'reset', 'renew-certs']);
export type Operation = z.infer<typeof Operation>;
