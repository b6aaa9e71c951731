import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { loadClientConfig } from './client-config.js';

/** What every command needs: output, and an admin API client built from --config / KCTL_CONFIG. */
export interface CliContext {
  out(text: string): void;
  err(text: string): void;
  client(cmd: Command): Promise<ApiClient>;
  /** a command that finished but found problems (failed checks) sets a non-zero exit code */
  exitCode: number;
}

export function defaultContext(): CliContext {
  return {
    exitCode: 0,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    async client(cmd) {
      const { config } = cmd.optsWithGlobals<{ config?: string }>();
      return new ApiClient(await loadClientConfig(config));
    },
  };
}

export type OutputFormat = 'table' | 'json';

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table' || value === 'wide') return 'table';
  if (value === 'json') return 'json';
  throw new Error(`-o: unknown output format "${value}" (use json or table)`);
}
