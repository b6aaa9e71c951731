import { appendCall, callNotes, redactArgv } from './call-log.js';
import { joinedNodeName } from './node-identity.js';
import {
  createStandinEnv,
  StandinExit,
  STANDIN_MARK,
  type StandinEnv,
  type ToolName,
} from './standin-env.js';

/**
 * The entry every stand-in binary runs: builds its environment, runs the command, prints an
 * expected failure as the real tool would (stderr, exit code), and appends one line per run to
 * <cluster dir>/calls.jsonl with secrets redacted, so tests can assert the order of calls across hosts.
 * A command returns the node name it acted for, when it knows one.
 */
function nodeOf(env: StandinEnv): string | null {
  try {
    return joinedNodeName(env) ?? env.defaultNodeName();
  } catch {
    return null;
  }
}

export function runStandin(
  tool: ToolName,
  main: (env: StandinEnv, args: string[]) => Promise<string | undefined | void>,
): void {
  const args = process.argv.slice(2);
  const started = Date.now();
  let env: StandinEnv | undefined;
  const finish = (exitCode: number, node: string | undefined): void => {
    process.exitCode = exitCode;
    try {
      const dir = env?.clusterDirIfAny();
      if (dir && env) {
        appendCall(dir, {
          time: new Date().toISOString(),
          tool,
          argv: redactArgv(args),
          cwd: process.cwd(),
          hostRoot: env.hostRoot,
          node: node ?? env.node ?? nodeOf(env),
          exitCode,
          startedAt: new Date(started).toISOString(),
          durationMs: Date.now() - started,
          ...callNotes(),
        });
      }
    } catch {
      // the call log is for tests; a missing cluster directory must not change the outcome
    }
  };
  const run = async (): Promise<void> => {
    env = createStandinEnv(tool);
    const node = await main(env, args);
    finish(0, node ?? undefined);
  };
  run().catch((err: unknown) => {
    if (err instanceof StandinExit) {
      process.stderr.write(err.message.endsWith('\n') ? err.message : `${err.message}\n`);
      finish(err.exitCode, undefined);
      return;
    }
    process.stderr.write(
      `${tool} (${STANDIN_MARK}): internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    finish(2, undefined);
  });
}
