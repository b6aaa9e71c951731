// npx tsx bench/host-root-reset-race.ts [rounds]: how often an agent's facts, gathered while its host root is
// reset, report no IPs, for the old reset of controller-random-kill (rm every entry, cp the pristine copy back) and
// for syncTree (docs/faults.md, the killed apply that did not resume).
import { cp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { makeHostRoot, cleanup } from '../test/integration/harness.js';
import { healthyFiles } from '../test/fixtures/healthy-host.js';
import { syncTree } from '../test/faults/sync-tree.js';

const root = await makeHostRoot('w-9', {
  ...healthyFiles(),
  '/proc/net/fib_trie': 'Local:\n  +-- 198.18.0.0/15 2 0 2\n     |-- 198.18.1.29\n        /32 host LOCAL\n',
});
const pristine = `${root}.pristine`;
await cp(root, pristine, { recursive: true });
const host = new LocalHost({ root });
const rounds = Number(process.argv[2] ?? 40);
for (const mode of ['rm+cp', 'syncTree'] as const) {
  let gathers = 0;
  let noIps = 0;
  let done = false;
  const reader = (async () => {
    while (!done) {
      const f = await gatherFacts(host).catch(() => undefined);
      gathers++;
      if (f && f.ips.length === 0) noIps++;
    }
  })();
  const t0 = Date.now();
  for (let i = 0; i < rounds; i++) {
    if (mode === 'rm+cp') {
      for (const e of await readdir(root)) await rm(join(root, e), { recursive: true, force: true });
      await cp(pristine, root, { recursive: true });
    } else await syncTree(pristine, root);
  }
  done = true;
  await reader;
  console.log(JSON.stringify({ mode, rounds, msPerReset: (Date.now() - t0) / rounds, gathers, noIps }));
}
await cleanup([root, pristine]);
