/**
 * Child process for test/faults/agent-kill-apt.test.ts: an "agent" that applies the packages step
 * through the real LocalHost over a temp host root (test/fixtures/apt-host.ts: the real apt-get
 * and dpkg), and is then killed with SIGKILL by the test.
 *
 *   node --import tsx test/faults/apt-install-child.ts MODE ROOT STATE_DIR PACKAGES_JSON
 *
 * MODE "agent" runs the programs as the agent does (MutatingRunLock: installs detached and
 * recorded in STATE_DIR), MODE "piped" on the agent's pipes (Host.run, as installs ran before).
 * It prints "applied <status>" when the step ends and then waits to be killed.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { LocalHost } from '../../agent/host/local-host.js';
import { StateDir } from '../../agent/host/state-dir.js';
import { MutatingRunLock } from '../../agent/mutating-run-lock.js';
import { applySteps } from '../../agent/steps/converge.js';
import { packagesStep } from '../../agent/steps/packages.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { TEST_BIN } from '../fixtures/temp-host.js';

const [mode, root, stateDir, packagesJson] = process.argv.slice(2);
if ((mode !== 'agent' && mode !== 'piped') || !root || !stateDir || !packagesJson) {
  process.stderr.write('usage: apt-install-child.ts agent|piped ROOT STATE_DIR PACKAGES_JSON\n');
  process.exit(2);
}
const log = pino({ level: 'info' }, pino.destination(2));
const host = new LocalHost({ root, programPath: [join(root, TEST_BIN)] });
const state = new StateDir(stateDir);
setInterval(() => undefined, 60_000); // alive until SIGKILL, whatever the run does
const main = async (): Promise<void> => {
  await state.init();
  const packages = JSON.parse(packagesJson) as HostSpec['packages'];
  const target = mode === 'agent' ? new MutatingRunLock({ state, log }).guard(host) : host;
  const [report] = await applySteps(target, [packagesStep(packages, [])]);
  process.stdout.write(`applied ${report?.status ?? 'none'} ${report?.error?.message ?? ''}\n`);
};
main().catch((err: unknown) => process.stdout.write(`failed ${String(err)}\n`));
