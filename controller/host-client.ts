import { createHash } from 'node:crypto';
import { KctlError } from '../proto/errors.js';
import type { OpArgs, OpName, OpResult } from '../proto/ops.js';
import type { ProgressFrame } from '../proto/wire.js';
import type { AgentRegistry } from './registry.js';

/** A host as the controller addresses it: the registry id, and the name used in every message. */
export interface HostRef {
  hostId: string;
  name: string;
}

export interface CallOptions {
  onProgress?: (message: string) => void;
  /**
   * The command id. Two commands with one id run once on the host: the second is answered from the
   * agent's journal, or joins the first while it still runs. The engine derives ids from the task
   * attempt and the args, so a task resumed after a controller crash does not repeat what ran.
   */
  commandId?: string;
  /** only where an operator set a bound on the request (kctl preflight --timeout); else the table's */
  timeoutMs?: number;
}

/**
 * How long the controller waits for each op's result, in one place. Long ones drive kubeadm, apt or
 * a drain; read-only ones answer in seconds.
 */
const MINUTE = 60_000;
const TIMEOUT_MS: Partial<Record<OpName, number>> = {
  ping: MINUTE,
  'facts.get': MINUTE,
  'preflight.run': 2 * MINUTE,
  'host.plan': 2 * MINUTE,
  'host.apply': 20 * MINUTE,
  'kubeadm.state': MINUTE,
  'kubeadm.init': 20 * MINUTE,
  'kubeadm.joinMaterial': 5 * MINUTE,
  'kubeadm.join': 20 * MINUTE,
  'kubeadm.reset': 15 * MINUTE,
  'kubeadm.upgradeApply': 35 * MINUTE,
  'kubeadm.upgradeNode': 35 * MINUTE,
  'kubectl.apply': 5 * MINUTE,
  'kubectl.nodes': MINUTE,
  'kubectl.drain': 6 * MINUTE,
  'kubectl.uncordon': 2 * MINUTE,
  'kubectl.label': 2 * MINUTE,
  'kubectl.taint': 2 * MINUTE,
  'kubectl.deleteNode': 3 * MINUTE,
  'service.restart': 3 * MINUTE,
  'health.run': 2 * MINUTE,
  'packages.available': 2 * MINUTE,
  'certs.check': MINUTE,
  'kubeadm.certsRenew': 10 * MINUTE,
  'kubeadm.apiserverEtcd': 15 * MINUTE,
  'kubeadm.userKubeconfig': MINUTE,
};
const DEFAULT_TIMEOUT_MS = 5 * MINUTE;

export function opTimeoutMs(op: OpName): number {
  return TIMEOUT_MS[op] ?? DEFAULT_TIMEOUT_MS;
}

/** A command id that is the same for the same task attempt, call and args (see CallOptions.commandId). */
export function stableCommandId(parts: readonly (string | number)[], args: unknown): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(String(p)).update('\0');
  h.update(JSON.stringify(args) ?? '');
  return `k${h.digest('hex').slice(0, 40)}`;
}

/**
 * The one way controller code talks to an agent: typed args and results (proto/ops.ts), failures as
 * KctlError with the agent's code, timeouts from the table above. Callers decide on codes and typed
 * fields, never on message text.
 */
export class HostClient {
  constructor(private readonly registry: AgentRegistry) {}

  isOnline(host: HostRef): boolean {
    return this.registry.isOnline(host.hostId);
  }

  async call<N extends OpName>(
    host: HostRef,
    op: N,
    args: OpArgs<N>,
    options: CallOptions = {},
  ): Promise<OpResult<N>> {
    const onProgress = options.onProgress;
    const r = await this.registry.sendCommand(host.hostId, op, args, {
      timeoutMs: options.timeoutMs ?? opTimeoutMs(op),
      ...(options.commandId !== undefined ? { commandId: options.commandId } : {}),
      ...(onProgress ? { onProgress: (p: ProgressFrame) => onProgress(p.message) } : {}),
    });
    if (!r.outcome.ok) throw KctlError.fromWire(r.outcome.error);
    // the registry has checked the value against Ops[op].result before resolving
    return r.outcome.value as OpResult<N>;
  }
}
