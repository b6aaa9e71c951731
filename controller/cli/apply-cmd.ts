import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { KctlError } from '../../proto/errors.js';
import { ApplyEventLine } from '../../proto/plan-api.js';
import { outputFormat, type CliContext, type OutputFormat } from './context.js';
import { loadClusterFile, SavedPlan } from './cluster-file.js';
import { ApplyProgress } from './progress.js';
import type { ApiClient } from './api-client.js';
import { phaseHelp } from '../plan/phases/index.js';

/** One plain line per event: readable in CI logs and when piped. */
export function renderEventLine(e: ApplyEventLine): string | undefined {
  switch (e.type) {
    case 'no-changes':
      return `cluster ${e.cluster}: no changes.`;
    case 'apply-superseded':
      return e.message;
    case 'apply-start':
      return `apply ${e.applyId}${e.resumed ? ' (resuming)' : ''}: ${e.phases.map((p) => `${p.id}(${p.tasks})`).join(' -> ')}`;
    case 'phase-start':
      return `== ${e.title}: ${e.pending} task(s)${e.skipped > 0 ? `, ${e.skipped} already done` : ''}`;
    case 'task-start':
      return `  ${e.host}: ${e.title}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
    case 'task-progress':
      return `  ${e.host}:   ${e.message}`;
    case 'task-done':
      return `  ${e.host}: done in ${(e.durationMs / 1000).toFixed(1)}s`;
    case 'task-skipped':
      return undefined;
    case 'task-failed':
      return `  ${e.host}: FAILED: ${e.error.message}${e.willRetry ? ' (will retry)' : ''}`;
    case 'phase-done':
      return undefined;
    case 'apply-done':
      return `apply ${e.status} in ${(e.durationMs / 1000).toFixed(1)}s${e.error ? `: ${e.error.message}` : ''}`;
    case 'error':
      return `error: ${e.error.message}`;
  }
}

/**
 * POSTs an apply (or a lifecycle operation) and shows its events as they come: bars on a terminal,
 * plain lines when piped or in CI, NDJSON with -o json. True when it succeeded or had nothing to do.
 */
export async function streamApply(
  ctx: CliContext,
  client: ApiClient,
  body: Record<string, unknown>,
  format: OutputFormat,
): Promise<boolean> {
  const live =
    format !== 'json' && process.stdout.isTTY === true ? new ApplyProgress((t) => ctx.out(t)) : undefined;
  let succeeded = false;
  await client.stream('/v1/admin/apply', body, (line) => {
    const parsed = ApplyEventLine.safeParse(JSON.parse(line));
    if (!parsed.success) return;
    const e = parsed.data;
    if (e.type === 'apply-done') succeeded = e.status === 'succeeded';
    if (e.type === 'no-changes') succeeded = true;
    if (e.type === 'error') succeeded = false;
    if (format === 'json') ctx.out(line + '\n');
    else if (live) live.handle(e);
    else {
      const text = renderEventLine(e);
      if (text !== undefined) ctx.out(text + '\n');
    }
  });
  return succeeded;
}

export function applyCommand(ctx: CliContext): Command {
  return new Command('apply')
    .description('converge the cluster to cluster.yaml (or to a saved plan), with live progress; resumable')
    .argument('[plan.json]', 'a plan saved by `kctl plan -o FILE`; refused if the hosts moved since')
    .option('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--phases <a,b,...>', 'only these phases (see below)')
    .addHelpText('after', `\nPhases, in the order an apply runs them:\n${phaseHelp('apply')}\n`)
    .option('-o, --output <format>', 'text (default) or json (one event per line)')
    .action(
      async (
        planFile: string | undefined,
        opts: { file?: string; output?: string; phases?: string },
        self: Command,
      ) => {
        const format = outputFormat(opts.output === 'text' ? undefined : opts.output);
        let body: Record<string, unknown>;
        if (planFile !== undefined) {
          let saved: SavedPlan;
          try {
            saved = SavedPlan.parse(JSON.parse(await readFile(planFile, 'utf8')));
          } catch (err) {
            throw new KctlError(
              'invalid_args',
              `${planFile} is not a plan saved by kctl plan -o: ${(err as Error).message}`,
            );
          }
          body = saved;
          delete body.kind;
        } else if (opts.file !== undefined) {
          const loaded = await loadClusterFile(opts.file);
          for (const w of loaded.warnings) ctx.err(`warning: ${w}\n`);
          body = {
            spec: loaded.spec,
            ...(loaded.cniManifest !== undefined ? { cniManifest: loaded.cniManifest } : {}),
          };
        } else {
          throw new KctlError('invalid_args', 'give -f cluster.yaml or a saved plan file');
        }
        if (opts.phases !== undefined) body.phases = opts.phases.split(',').map((p) => p.trim());
        const succeeded = await streamApply(ctx, await ctx.client(self), body, format);
        if (!succeeded) ctx.exitCode = 1;
      },
    );
}
