import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

/**
 * Log fields that may hold secrets, redacted by the logger itself (S19). Both processes use this
 * one factory so the list cannot drift between agent and controller.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'args.token',
  'secret',
  '*.secret',
  'certificateKey',
  '*.certificateKey',
  '*.*.certificateKey',
  'keyPem',
  '*.keyPem',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  name: string;
  level?: LevelWithSilent;
  /** where JSON lines go; defaults to stdout. Tests pass a stream to capture output. */
  destination?: NodeJS.WritableStream;
  /** pretty output only on an interactive terminal */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    name: options.name,
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { name: options.name, pid: process.pid },
  };
  const wantPretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  if (wantPretty) return pino(base, pretty({ colorize: true, sync: true }));
  return pino(base, (options.destination ?? process.stdout) as pino.DestinationStream);
}

export type { Logger };
