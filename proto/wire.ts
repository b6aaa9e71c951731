import { z } from 'zod';
import { HostFacts } from './facts.js';
import { WireError, describeZodError } from './errors.js';
import { MAX_FRAME_BYTES } from './version.js';

/** Ids are opaque but have a grammar, so they can never smuggle paths or markup. */
export const Id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must match [A-Za-z0-9._-], 1-128 chars');
/** Op names: dotted lowercase words, e.g. `host.apply`. The registry decides whether one exists. */
export const OpName = z.string().regex(/^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)*$/, 'must be a dotted op name');
const Millis = z.number().int().nonnegative();

// ---------- agent -> controller ----------

export const HelloFrame = z.strictObject({
  type: z.literal('hello'),
  protocolVersion: z.number().int(),
  agentVersion: z.string().max(64),
  facts: HostFacts,
});

export const HeartbeatFrame = z.strictObject({
  type: z.literal('heartbeat'),
  seq: z.number().int().nonnegative(),
  /** the sender's wall clock; an agent re-anchors its estimate of the controller's clock on it */
  sentAt: Millis,
  /**
   * agent -> controller only: the agent's wall clock minus the controller's, as the agent measured
   * it over this channel (positive: the agent is ahead); absent until the agent has a measurement
   */
  clockOffsetMs: z
    .number()
    .int()
    .min(-(2 ** 47))
    .max(2 ** 47)
    .optional(),
});

/**
 * agent -> controller, after the welcome: the facts that changed since the hello (and the facts
 * frames before this one) on this connection; the controller merges them into what it holds
 */
export const FactsFrame = z.strictObject({
  type: z.literal('facts'),
  changed: HostFacts.partial(),
  removed: z.array(HostFacts.keyof()).max(32),
});
export type FactsFrame = z.infer<typeof FactsFrame>;

export const ProgressFrame = z.strictObject({
  type: z.literal('progress'),
  id: Id,
  stepId: z.string().max(128).optional(),
  message: z.string().max(4096),
  fraction: z.number().min(0).max(1).optional(),
});

export const Outcome = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), value: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: WireError }),
]);
export type Outcome = z.infer<typeof Outcome>;

export const ResultFrame = z.strictObject({
  type: z.literal('result'),
  id: Id,
  /** true when the agent answered from its journal instead of running the command again */
  replayed: z.boolean(),
  outcome: Outcome,
});

export const ErrorFrame = z.strictObject({
  type: z.literal('error'),
  /** the command or frame this error answers, when known */
  inReplyTo: Id.optional(),
  error: WireError,
});

export const AgentFrame = z.discriminatedUnion('type', [
  HelloFrame,
  HeartbeatFrame,
  FactsFrame,
  ProgressFrame,
  ResultFrame,
  ErrorFrame,
]);
export type AgentFrame = z.infer<typeof AgentFrame>;

// ---------- controller -> agent ----------

export const WelcomeFrame = z.strictObject({
  type: z.literal('welcome'),
  protocolVersion: z.number().int(),
  controllerVersion: z.string().max(64),
  hostId: Id,
  hostName: z.string().max(253),
  heartbeatIntervalMs: Millis,
  /** the controller's wall clock when it sent this; with the hello's round trip the agent learns the offset */
  controllerTime: Millis.optional(),
});

/** S11: every command names its host, carries an expiry and (for plan-driven work) the plan hash. */
export const CommandFrame = z.strictObject({
  type: z.literal('command'),
  id: Id,
  hostId: Id,
  op: OpName,
  /** checked against the op's own schema by the agent's registry */
  args: z.record(z.string(), z.unknown()),
  /** controller clock; the command is expired once the controller's clock reads >= expiresAt (S11) */
  issuedAt: Millis,
  expiresAt: Millis,
  /**
   * ms of life left when the controller put the frame on the wire (restamped on a re-send): the
   * agent also refuses it once this long has passed on its monotonic clock since receipt, so the
   * agent's own wall clock never decides freshness
   */
  ttlMs: Millis.optional(),
  planId: Id.optional(),
  planHash: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
});
export type CommandFrame = z.infer<typeof CommandFrame>;

export const CancelFrame = z.strictObject({ type: z.literal('cancel'), id: Id });

export const ControllerFrame = z.discriminatedUnion('type', [
  WelcomeFrame,
  HeartbeatFrame,
  CommandFrame,
  CancelFrame,
  ErrorFrame,
]);
export type ControllerFrame = z.infer<typeof ControllerFrame>;

export type HelloFrame = z.infer<typeof HelloFrame>;
export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type ResultFrame = z.infer<typeof ResultFrame>;
export type ProgressFrame = z.infer<typeof ProgressFrame>;

// ---------- parsing ----------

const MAX_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: WireError };

/**
 * Parses untrusted JSON: size cap, no prototype keys (S9), bounded nesting, then the zod schema.
 * Never throws; the error names the offending field.
 */
export function parseJson<T>(raw: string | Buffer, schema: z.ZodType<T>, what = 'frame'): ParseResult<T> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_FRAME_BYTES) {
    return fail('frame_too_large', `${what} of ${size} bytes exceeds the limit of ${MAX_FRAME_BYTES} bytes`);
  }
  let data: unknown;
  let depth: number;
  try {
    data = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
    // keys are checked in the depth walk, not by a reviver: a reviver makes every parse 2-3x slower
    // (JSON.parse keeps "__proto__" as an own key, so the walk sees it; nothing was merged yet)
    depth = nestingDepth(data, 0);
  } catch (err) {
    if (err instanceof ForbiddenKey) return fail('invalid_frame', `${what}: key "${err.key}" is not allowed`);
    return fail('invalid_frame', `${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (depth > MAX_DEPTH) return fail('invalid_frame', `${what} nests deeper than ${MAX_DEPTH} levels`);
  const parsed = schema.safeParse(data);
  if (!parsed.success) return fail('invalid_frame', `${what}: ${describeZodError(parsed.error)}`);
  return { ok: true, value: parsed.data };
}

class ForbiddenKey extends Error {
  constructor(readonly key: string) {
    super(key);
  }
}

/** Nesting depth of a parsed value; throws ForbiddenKey at the first prototype key (S9). */
function nestingDepth(value: unknown, depth: number): number {
  if (depth > MAX_DEPTH) return depth;
  if (value === null || typeof value !== 'object') return depth;
  let max = depth + 1;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) throw new ForbiddenKey(key);
    max = Math.max(max, nestingDepth((value as Record<string, unknown>)[key], depth + 1));
    if (max > MAX_DEPTH) break;
  }
  return max;
}

function fail<T>(code: WireError['code'], message: string): ParseResult<T> {
  return { ok: false, error: { code, message, retryable: false } };
}
