import type { OpImplementations } from './registry.js';
import { factsOp, pingOp } from './basic-ops.js';
import { preflightOps } from './preflight-ops.js';
import { kubeadmOps } from './kubeadm-ops.js';
import { hostOps } from './host-ops.js';
import { serviceRestartOp } from './service-ops.js';
import { makeHealthOps } from '../health/health-op.js';

/** Every op this agent implements; the type forces one implementation per op in proto/ops.ts. */
export function agentOps(): OpImplementations {
  return {
    ping: pingOp,
    'facts.get': factsOp,
    ...preflightOps,
    ...kubeadmOps,
    ...hostOps,
    'service.restart': serviceRestartOp,
    ...makeHealthOps(),
  };
}
