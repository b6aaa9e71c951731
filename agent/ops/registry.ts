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
  run(args: OpArgs<N>, ctx: OpContext): Promise<OpResult<N>>;
}

/** The agent's implementation of every op in proto/ops.ts; the type makes a missing one a compile error. */
export type OpImplementations = { [N in OpName]: AgentOp<N> };
