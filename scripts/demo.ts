/**
 * The README's main job: on this machine, a controller with embedded state and five agents on
 * loopback, each converging its own host root, then `kctl plan` and `kctl apply` of an HA cluster
 * (3 control planes behind a kube-vip VIP + 2 workers). kubeadm, kubelet and kubectl are the
 * STAND-INS from test/standins (the real ones cannot be installed here); everything else is real.
 *
 *   npx tsx scripts/demo.ts up     # or: npm run demo  (as root: the fleet lab, scripts/demo-lab.ts)
 *   npx tsx scripts/demo.ts up --loopback   # this loopback demo even as root
 *   npx tsx scripts/demo.ts down   # stops the processes; rm -rf .demo forgets everything
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { initDataDir } from '../controller/data-dir.js';
import { loadClientConfig } from '../controller/cli/client-config.js';
import { ApiClient } from '../controller/cli/api-client.js';
import { HostList, TokenCreateResponse } from '../proto/admin-api.js';
import { z } from 'zod';
import { buildStandins } from '../test/standins/build.js';
import { healthyFiles } from '../test/fixtures/healthy-host.js';
import { labDemoDown, labDemoPresent, labDemoUnavailable, labDemoUp } from './demo-lab.js';

const WebTokenCreated = z.object({ token: z.string() });

const DEMO = resolve('.demo');
const LISTEN = '127.0.0.1:7443';
const HOSTS = [
  { name: 'demo-cp-1', ip: '198.18.2.11', role: 'control-plane' },
  { name: 'demo-cp-2', ip: '198.18.2.12', role: 'control-plane' },
  { name: 'demo-cp-3', ip: '198.18.2.13', role: 'control-plane' },
  { name: 'demo-w-1', ip: '198.18.2.21', role: 'worker' },
  { name: 'demo-w-2', ip: '198.18.2.22', role: 'worker' },
];

function detached(name: string, args: string[]): void {
  const log = openSync(join(DEMO, `${name}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  void writeFile(join(DEMO, `${name}.pid`), String(child.pid));
}

function kctl(args: string[]): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'controller/cli/kctl.ts', ...args], {
    stdio: 'inherit',
    env: { ...process.env, KCTL_CONFIG: join(DEMO, 'controller', 'kctl.yaml') },
  });
  return r.status ?? 1;
}

async function waitFor(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; see the logs in ${DEMO}`);
}

async function down(): Promise<void> {
  for (const name of ['controller', ...HOSTS.map((h) => h.name)]) {
    const pidFile = join(DEMO, `${name}.pid`);
    if (!existsSync(pidFile)) continue;
    try {
      process.kill(Number(await readFile(pidFile, 'utf8')), 'SIGTERM');
    } catch {
      // already gone
    }
    await rm(pidFile, { force: true });
  }
}

async function up(): Promise<void> {
  const t0 = Date.now();
  await mkdir(DEMO, { recursive: true });
  await down();
  const init = await initDataDir({ dir: join(DEMO, 'controller'), listen: LISTEN, sans: [] });
  console.log(`controller CA pin ${init.caPin}`);
  detached('controller', [
    'controller/cli/kctl.ts',
    'controller',
    'run',
    '--data-dir',
    join(DEMO, 'controller'),
  ]);
  const api = new ApiClient(await loadClientConfig(init.clientConfig));
  await waitFor(
    'the controller',
    async () => (await api.get('/v1/admin/hosts', HostList, 1000)).hosts !== undefined,
  );

  const bin = join(DEMO, 'bin');
  await buildStandins(bin);
  const clusterDir = join(DEMO, 'standin-cluster');
  await mkdir(clusterDir, { recursive: true });
  let token: string | undefined;
  for (const h of HOSTS) {
    const root = join(DEMO, 'hosts', h.name);
    const state = join(DEMO, 'agents', h.name);
    if (!existsSync(join(state, 'identity.json'))) {
      token ??= (
        await api.post(
          '/v1/admin/tokens',
          { ttlMs: 600_000, uses: HOSTS.length, labels: { env: 'demo' } },
          TokenCreateResponse,
        )
      ).token;
      const files: Record<string, string> = {
        ...healthyFiles(),
        '/proc/sys/kernel/hostname': `${h.name}\n`,
        '/proc/sys/net/ipv4/ip_forward': '0\n',
        '/etc/machine-id': `${randomUUID().replaceAll('-', '')}\n`,
        '/sys/class/dmi/id/product_uuid': `${randomUUID()}\n`,
        '/etc/hosts': `127.0.0.1 localhost\n${h.ip} ${h.name}\n`,
        '/etc/fstab': 'UUID=0a1b / ext4 errors=remount-ro 0 1\n',
        '/etc/os-release': 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        '/proc/net/fib_trie': `Local:\n  +-- 198.18.0.0/15 2 0 2\n     |-- ${h.ip}\n        /32 host LOCAL\n`,
        '/etc/kctl-standin/cluster-dir': clusterDir,
        '/etc/kctl-standin/version': 'v1.31.2',
      };
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), content);
      }
      await mkdir(state, { recursive: true });
      await writeFile(
        join(DEMO, `${h.name}.yaml`),
        toYaml({
          controller: `https://${LISTEN}`,
          caPin: init.caPin,
          token,
          stateDir: state,
          hostRoot: root,
          programPath: [bin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'],
          heartbeatIntervalMs: 2000,
        }),
      );
    }
    detached(h.name, ['agent/main.ts', '--config', join(DEMO, `${h.name}.yaml`)]);
  }
  await waitFor(
    'five agents online',
    async () =>
      (await api.get('/v1/admin/hosts', HostList)).hosts.filter((h) => h.online).length === HOSTS.length,
  );

  await writeFile(
    join(DEMO, 'cni.yaml'),
    'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: calico-node, namespace: kube-system}\nspec:\n  selector: {matchLabels: {k8s-app: calico-node}}\n  template:\n    metadata: {labels: {k8s-app: calico-node}}\n    spec:\n      hostNetwork: true\n      containers: [{name: calico-node, image: docker.io/calico/node:v3.28.0}]\n',
  );
  const clusterFile = join(DEMO, 'cluster.yaml');
  await writeFile(
    clusterFile,
    [
      'apiVersion: kctl.dev/v1alpha1',
      'kind: Cluster',
      'name: demo',
      'kubernetesVersion: v1.31.2',
      'controlPlaneEndpoint: {host: 198.18.2.100, port: 6443}',
      'ha: {mode: kube-vip, interface: eth0}',
      'cni: {plugin: calico, manifest: cni.yaml}',
      'packages: {source: preinstalled}',
      'hosts:',
      ...HOSTS.map((h) => `  - {name: ${h.name}, role: ${h.role}}`),
      '',
    ].join('\n'),
  );
  console.log('\n$ kctl hosts');
  kctl(['hosts']);
  console.log(`\n$ kctl plan -f ${clusterFile}`);
  kctl(['plan', '-f', clusterFile]);
  console.log(`\n$ kctl apply -f ${clusterFile}`);
  const code = kctl(['apply', '-f', clusterFile]);
  console.log(`\n$ kctl plan -f ${clusterFile}   # after apply: nothing left to do`);
  kctl(['plan', '-f', clusterFile]);
  const login = await api
    .post(
      '/v1/admin/web-tokens',
      { readOnly: true, description: 'loopback demo', ttl: '12h' },
      WebTokenCreated,
    )
    .then((r) => r.token)
    .catch(() => undefined);
  const [webHost, webPort] = LISTEN.split(':');
  console.log(
    `\ndone in ${((Date.now() - t0) / 1000).toFixed(0)}s. controller: https://${LISTEN}  state: ${DEMO}  logs: ${DEMO}/*.log`,
  );
  console.log(
    `fleet page: https://${webHost}:${Number(webPort) + 1}/   (CA ${join(DEMO, 'controller', 'ca.crt')})`,
  );
  if (login) console.log(`login token: ${login}   (read-only, 12h)`);
  console.log(`try: KCTL_CONFIG=${join(DEMO, 'controller', 'kctl.yaml')} npx kctl status`);
  console.log('stop: npm run demo:down');
  process.exitCode = code;
}

/**
 * As root on Linux the demo is the fleet lab (scripts/demo-lab.ts): five booted Debian hosts.
 * Otherwise, or with --loopback, the agents run on loopback as above.
 */
async function main(): Promise<void> {
  const cmd = process.argv[2] ?? 'up';
  const loopback = process.argv.includes('--loopback');
  const labMissing = labDemoUnavailable();
  if (cmd === 'down') {
    await down();
    if (labMissing === undefined && labDemoPresent()) await labDemoDown();
    return;
  }
  if (!loopback && labMissing === undefined) {
    process.exitCode = await labDemoUp().catch((err: unknown) => {
      console.error('demo: the lab is left as it is for a look; `npm run demo:down` removes it');
      throw err;
    });
    return;
  }
  if (!loopback) {
    console.log(
      `npm run demo: no fleet lab: ${labMissing}.\n` +
        'Falling back to the loopback demo: five agents on this machine, each converging its own directory.\n',
    );
  }
  await up();
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
