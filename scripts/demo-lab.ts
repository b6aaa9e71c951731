/**
 * The README's main job as root: a real controller with embedded SQLite state listening on the
 * lab bridge (https://198.18.0.1:7443), five booted Debian hosts (systemd-nspawn: 3 control
 * planes, 2 workers) that install and enroll the agent through their `kctl cloud-init` user-data,
 * the offline bundle (`kctl bundle build`: containerd, runc, nodejs and the kubeadm/kubelet/kubectl
 * STAND-IN packages), then `kctl plan` and `kctl apply` with `packages.source: bundle`.
 *
 *   npm run demo        # scripts/demo.ts calls labDemoUp() when root
 *   npm run demo:down   # stops the controller, `kctl lab down`, removes the demo state
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LAB_BRIDGE_ADDRESS } from '../lab/network.js';
import { DEFAULT_CACHE_DIR } from '../lab/rootfs.js';
import { DEFAULT_LAB_DIR } from '../lab/state.js';
import type { ProcessRef } from '../lab/state.js';
import { REPO, startFleetLab, stopController } from '../test/e2e/fleet-lab.js';

export const LAB_DEMO_DIR = '/var/lib/kctl/demo';
const PORT = 7443;
const CONTROLLER_PID_FILE = join(LAB_DEMO_DIR, 'controller.pid.json');

/** Why the lab demo cannot run here (then the loopback demo runs), or undefined. */
export function labDemoUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the fleet lab needs Linux';
  if (process.getuid?.() !== 0)
    return 'the fleet lab boots Debian hosts with systemd-nspawn and needs root (npm run demo)';
  return undefined;
}

function kctl(args: string[], env: Record<string, string> = {}): number {
  const r = spawnSync(join(REPO, 'node_modules/.bin/tsx'), [join(REPO, 'controller/cli/kctl.ts'), ...args], {
    cwd: REPO,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return r.status ?? 1;
}

function kctlOut(args: string[], env: Record<string, string>): string {
  const r = spawnSync(join(REPO, 'node_modules/.bin/tsx'), [join(REPO, 'controller/cli/kctl.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return r.status === 0 ? r.stdout.trim() : '';
}

function duMegabytes(paths: string[]): string {
  const r = spawnSync('du', ['-smx', '--', ...paths.filter((p) => existsSync(p))], { encoding: 'utf8' });
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [mb, path] = l.split('\t');
      return `${path} ${mb} MB`;
    })
    .join(', ');
}

/** Whether a lab demo (or any lab in the default directory) is there to take down. */
export function labDemoPresent(): boolean {
  return existsSync(LAB_DEMO_DIR) || existsSync(join(DEFAULT_LAB_DIR, 'lab.json'));
}

export async function labDemoDown(): Promise<void> {
  if (existsSync(CONTROLLER_PID_FILE)) {
    const ref = JSON.parse(await readFile(CONTROLLER_PID_FILE, 'utf8')) as ProcessRef;
    await stopController(ref);
    console.log(`controller (pid ${ref.pid}) stopped`);
  }
  console.log('$ kctl lab down');
  const code = kctl(['lab', 'down', '--dir', DEFAULT_LAB_DIR]);
  if (code !== 0) throw new Error(`kctl lab down failed (exit ${code})`);
  await rm(LAB_DEMO_DIR, { recursive: true, force: true });
  console.log(`removed ${LAB_DEMO_DIR}; the lab's base root filesystem stays cached in ${DEFAULT_CACHE_DIR}`);
}

export async function labDemoUp(): Promise<number> {
  const t0 = Date.now();
  const say = (m: string) => console.log(`[demo ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
  // a demo left running is replaced, never doubled (one lab per machine)
  if (labDemoPresent()) await labDemoDown();
  say(`building the controller, the bundle and a 5-host lab (state in ${LAB_DEMO_DIR})`);
  const lab = await startFleetLab(
    {
      work: LAB_DEMO_DIR,
      labDir: DEFAULT_LAB_DIR,
      controlPlanes: 3,
      workers: 2,
      port: PORT,
      installMissing: true,
      log: say,
    },
    (ref) => void writeFile(CONTROLLER_PID_FILE, JSON.stringify(ref)),
  );
  await writeFile(CONTROLLER_PID_FILE, JSON.stringify(lab.controller));
  const env = { KCTL_CONFIG: lab.clientConfig };
  console.log('\n$ kctl hosts');
  kctl(['hosts'], env);
  console.log(`\n$ kctl plan -f ${lab.clusterFile}`);
  kctl(['plan', '-f', lab.clusterFile], env);
  console.log(`\n$ kctl apply -f ${lab.clusterFile}`);
  const code = kctl(['apply', '-f', lab.clusterFile], env);
  console.log(`\n$ kctl plan -f ${lab.clusterFile}   # after apply: nothing left to do`);
  kctl(['plan', '-f', lab.clusterFile], env);
  const login = kctlOut(['web', 'token', 'create', '--read-only', '--ttl', '12h'], env);
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  console.log(
    [
      '',
      `${code === 0 ? 'converged' : 'apply FAILED'}: 5 booted hosts in ${seconds}s`,
      `  fleet page:  https://${LAB_BRIDGE_ADDRESS}:${PORT + 1}/   (from this machine; CA ${join(lab.dataDir, 'ca.crt')})`,
      ...(login ? [`  login token: ${login}   (read-only, 12h)`] : []),
      `  controller:  ${lab.controllerUrl}   log ${lab.controllerLog}`,
      `  kctl:        export KCTL_CONFIG=${lab.clientConfig}; npx kctl status`,
      `  a host:      npx kctl lab status; nsenter -t <INIT-PID> -a systemctl status kctl-agent`,
      `  disk:        ${duMegabytes([LAB_DEMO_DIR, DEFAULT_LAB_DIR, DEFAULT_CACHE_DIR])}`,
      `  tear down:   npm run demo:down   (stops the controller, kctl lab down, removes ${LAB_DEMO_DIR})`,
    ].join('\n'),
  );
  return code;
}
