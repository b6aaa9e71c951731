import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { loggerBase, REDACT_PATHS } from './json-logger.js';

export { REDACT_PATHS };

export interface LoggerOptions {
  name: string;
  level?: LevelWithSilent;
  /** where JSON lines go; defaults to stdout. Tests pass a stream to capture output. */
  destination?: NodeJS.WritableStream;
  /** pretty output only on an interactive terminal */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = loggerBase(options.name, options.level);
  const wantPretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  if (wantPretty) return pino(base, pretty({ colorize: true, sync: true }));
  return pino(base, (options.destination ?? process.stdout) as pino.DestinationStream);
}

export type { Logger };
