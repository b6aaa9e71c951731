import { pino, type Logger, type LevelWithSilent, type LoggerOptions } from 'pino';

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
  // cluster.yaml etcd.clientKey (etcd.mode external), wherever a spec is logged whole
  'clientKey',
  '*.clientKey',
  '*.*.clientKey',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** pino options both processes share: name, level, pid and the redaction list */
export function loggerBase(
  name: string,
  level: LevelWithSilent = 'info',
): LoggerOptions & { level: LevelWithSilent } {
  return {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { name, pid: process.pid },
  };
}

/**
 * JSON lines to stdout, without the pretty-printer (proto/logging.ts): what the agent daemon logs,
 * so that an idle agent does not load pino-pretty (issue 13 part 7).
 */
export function createJsonLogger(options: { name: string; level?: LevelWithSilent }): Logger {
  return pino(loggerBase(options.name, options.level), process.stdout as pino.DestinationStream);
}
