/**
 * Child process for atomic-write-crash.test.ts: writes two contents in turn to one config file
 * through the real LocalHost.writeFileAtomic, until the test kills it with SIGKILL.
 *
 *   node --import tsx test/faults/atomic-write-child.ts ROOT PATH PAUSE_AT
 *
 * Write n (from 0) writes content n % 2 (faultContent). PAUSE_AT >= 0 stops write PAUSE_AT at the
 * point between the temp file's write + fsync and its rename: the child's own `rename` from
 * node:fs/promises is wrapped (module.syncBuiltinESMExports updates the binding local-host.ts
 * imported), prints "paused <temp path>" and waits to be killed. No test branch in production code.
 * It prints "ready" before the first write and "wrote n" after each.
 */
import fsp from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { faultContent } from './atomic-write-content.js';

const [root, path, pauseArg] = process.argv.slice(2);
if (!root || !path || pauseArg === undefined) {
  process.stderr.write('usage: atomic-write-child.ts ROOT PATH PAUSE_AT\n');
  process.exit(2);
}
const pauseAt = Number(pauseArg);
let n = 0;

const realRename = fsp.rename;
fsp.rename = async (from, to) => {
  if (n === pauseAt && basename(String(from)).startsWith(`.${basename(path)}.kctl-tmp-`)) {
    // the host layer renames through its held directory (/proc/self/fd/<n>/<name>): print the real path
    const held = /^\/proc\/self\/fd\/\d+$/.test(dirname(String(from)));
    const shown = held ? join(readlinkSync(dirname(String(from))), basename(String(from))) : String(from);
    process.stdout.write(`paused ${shown}\n`);
    setInterval(() => undefined, 60_000); // keeps the process alive until SIGKILL
    await new Promise(() => undefined);
  }
  return realRename(from, to);
};
syncBuiltinESMExports();

const { LocalHost } = await import('../../agent/host/local-host.js');
const host = new LocalHost({ root });
process.stdout.write('ready\n');
for (;;) {
  await host.writeFileAtomic(path, faultContent(n % 2), { mode: 0o600 });
  process.stdout.write(`wrote ${n}\n`);
  n++;
}
