/**
 * Child process for agent/host/detached-run.test.ts: an "agent" that starts one program through
 * the real LocalHost and is then killed with SIGKILL by the test.
 *
 *   node --import tsx test/faults/detached-run-child.ts MODE BIN_DIR RUN_DIR ID PROGRAM [ARGS...]
 *
 * MODE "detached" uses host.runDetached (dir RUN_DIR, id ID), MODE "piped" uses host.run (the
 * child on the agent's pipes, as kubeadm was run before). It prints "spawned <pid>" once the
 * program has started and then waits to be killed.
 */
import { LocalHost } from '../../agent/host/local-host.js';

const [mode, bin, dir, id, program, ...args] = process.argv.slice(2);
if (!mode || !bin || !dir || !id || !program) {
  process.stderr.write('usage: detached-run-child.ts MODE BIN_DIR RUN_DIR ID PROGRAM [ARGS...]\n');
  process.exit(2);
}
const host = new LocalHost({ programPath: [bin, '/usr/bin', '/bin'] });
const onSpawn = (pid: number): Promise<void> => {
  process.stdout.write(`spawned ${pid}\n`);
  return Promise.resolve();
};
setInterval(() => undefined, 60_000); // alive until SIGKILL, whatever the run does
const run =
  mode === 'detached'
    ? host.runDetached(program, args, { dir, id, onSpawn, timeoutMs: 120_000 })
    : host.run(program, args, { onSpawn, timeoutMs: 120_000 });
run.then(
  () => process.stdout.write('finished\n'),
  (err: unknown) => process.stdout.write(`failed ${String(err)}\n`),
);
