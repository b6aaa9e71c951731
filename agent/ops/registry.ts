import type { Logger } from 'pino';
import type { Host } from '../host/host.js';
import type { BundleSource } from '../steps/bundle-fetch.js';
import type { OpArgs, OpName, OpResult } from '../../proto/ops.js';

export interface OpContext {
  host: Host;
  hostId: string;
  log: Logger;
  signal: AbortSignal;
  progress: (update: { message: string; stepId?: string; fraction?: number }) => void;
  /** the controller's offline bundle, for the bundle-sync step; absent in tests that need none */
  bundle?: BundleSource | undefined;
}

export interface AgentOp<N extends OpName> {
  name: N;
  /**
   * Ops of one lane never run at the same time on this host: the executor queues the second. Two
   * kubeadm runs at once (a command re-sent by a restarted controller while the first still runs)
   * would clash on the host and on their shared config file.
   */
  exclusive?: 'kubeadm';
  /**
   * The result is a credential: the executor never writes it to the journal, so a re-sent command
   * runs again (such an op must be safe to repeat).
   */
  secretResult?: true;
  run(args: OpArgs<N>, ctx: OpContext): Promise<OpResult<N>>;
}

/** The agent's implementation of every op in proto/ops.ts; the type makes a missing one a compile error. */
export type OpImplementations = { [N in OpName]: AgentOp<N> };
