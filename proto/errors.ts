import { z } from 'zod';

/** Every error code kctl uses, in one place. The wire and the journal carry these. */
export const ErrorCode = z.enum([
  'invalid_frame',
  'frame_too_large',
  'unknown_op',
  'invalid_args',
  'protocol_mismatch',
  'not_authenticated',
  'forbidden',
  'host_revoked',
  'duplicate_connection',
  'token_invalid',
  'token_expired',
  'token_exhausted',
  'ca_pin_mismatch',
  'csr_invalid',
  'enroll_rate_limited',
  /** an enrolled agent went over a rate limit of the agent channel (frames, bytes, hellos, reconnects) */
  'rate_limited',
  'name_taken',
  'command_expired',
  'command_foreign_host',
  'command_failed',
  'command_cancelled',
  'host_offline',
  'unknown_host',
  'not_found',
  'invalid_config',
  'invalid_spec',
  'path_not_allowed',
  'io_error',
  'program_failed',
  'step_failed',
  'check_failed',
  'plan_stale',
  /** another apply or lifecycle operation of the same cluster is running */
  'cluster_busy',
  'timeout',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The plain form of an error at every boundary: no stack, ever. */
export const WireError = z.strictObject({
  code: ErrorCode,
  message: z.string().max(8192),
  details: z.record(z.string(), z.unknown()).optional(),
  retryable: z.boolean(),
});
export type WireError = z.infer<typeof WireError>;

export interface KctlErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
  retryable?: boolean;
}

/** The one error class thrown inside kctl processes. */
export class KctlError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: KctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KctlError';
    this.code = code;
    this.details = options.details;
    this.retryable = options.retryable ?? false;
  }

  toWire(): WireError {
    return {
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
      retryable: this.retryable,
    };
  }

  static fromWire(e: WireError): KctlError {
    return new KctlError(e.code, e.message, {
      ...(e.details ? { details: e.details } : {}),
      retryable: e.retryable,
    });
  }
}

/** Converts anything thrown into the wire form, exactly once at a boundary. */
export function toWireError(err: unknown): WireError {
  if (err instanceof KctlError) return err.toWire();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message, retryable: false };
}

/** Formats zod issues as `path: message` lines so every error names its field. */
export function describeZodError(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
      return `${path === '' ? '(root)' : path}: ${issue.message}`;
    })
    .join('; ');
}
