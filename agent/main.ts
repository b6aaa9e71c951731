#!/usr/bin/env node
import { readConfigFile } from './host/config-file.js';
import { parseArgs } from 'node:util';
import { KctlError, toWireError } from '../proto/errors.js';
import { KCTL_VERSION, PROTOCOL_VERSION } from '../proto/version.js';
import { createJsonLogger } from '../proto/json-logger.js';
import { parseAgentConfig, type AgentConfig } from './config.js';
import { runAgent } from './agent.js';
import { HEAP_TRIM_DEFAULTS, startHeapTrim } from './heap-trim.js';

const USAGE = `Usage: kctl-agent --config /etc/kctl/agent.yaml
       kctl-agent --version`;

async function main(argv: string[]): Promise<number> {
  let values: { config?: string | undefined; version?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`kctl-agent: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`kctl-agent ${KCTL_VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    return 0;
  }
  const configPath = values.config ?? '/etc/kctl/agent.yaml';
  let config: AgentConfig;
  try {
    config = parseAgentConfig(await readConfigFile(configPath), configPath);
  } catch (err) {
    const message =
      err instanceof KctlError
        ? err.message
        : `Cannot read config "${configPath}": ${(err as Error).message}`;
    process.stderr.write(`kctl-agent: ${message}\n`);
    return 2;
  }
  // the pretty-printer only on a terminal: a daemon under systemd writes JSON and does not load it
  const log = process.stdout.isTTY
    ? (await import('../proto/logging.js')).createLogger({ name: 'kctl-agent', level: config.logLevel })
    : createJsonLogger({ name: 'kctl-agent', level: config.logLevel });
  let agent: { stop(): Promise<void> };
  let stopRequested = false;
  const onSignal = (signal: string): void => {
    if (stopRequested) return;
    stopRequested = true;
    log.info({ signal }, 'stopping');
    void (agent ? agent.stop() : Promise.resolve()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    agent = await runAgent(config, log);
  } catch (err) {
    const wire = toWireError(err);
    log.fatal({ code: wire.code, reason: wire.message, details: wire.details }, 'agent cannot start');
    process.stderr.write(`kctl-agent: ${wire.message}\n`);
    return 1;
  }
  // an idle agent gives back the young generation that start-up and commands grew (issue 13 part 7)
  startHeapTrim({ ...HEAP_TRIM_DEFAULTS, log });
  return new Promise<number>(() => undefined); // runs until a signal
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kctl-agent: ${String(err)}\n`);
    process.exit(1);
  },
);
