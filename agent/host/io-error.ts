import { KctlError } from '../../proto/errors.js';

/** A failed file-system call as a KctlError naming what failed; a KctlError passes through as it is. */
export function ioError(message: string, cause: unknown): KctlError {
  if (cause instanceof KctlError) return cause;
  const code = (cause as NodeJS.ErrnoException).code;
  return new KctlError('io_error', `${message}: ${code ?? (cause as Error).message}`, {
    cause,
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}
