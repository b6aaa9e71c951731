import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ClusterState } from './cluster-state.js';
import type { StandinEnv } from './standin-env.js';

/**
 * The kubelet processes of the STAND-IN cluster. A real Node reports the version of the kubelet
 * process that runs, not of the binary on disk: after a package upgrade the node keeps reporting
 * the old version until the kubelet restarts. Stand-in kubelets run under systemd (the fleet lab)
 * record each start of their unit here; hosts without systemd (fake host roots) record nothing and
 * their nodes report the installed version, as before.
 */

/** The unit's ExecStart ran `kubelet --standin-start`: the kubelet of `node` now runs `version`. */
export function recordKubeletStart(
  state: ClusterState,
  node: string,
  version: string,
  hostRoot: string,
  now: number,
): void {
  state.runningKubelets[node] = { version, hostRoot, startedAt: now };
}

/**
 * kubeadm init and join (re)start the kubelet in their kubelet-start phase. A kubelet already
 * recorded as running for this node restarts with the version kubeadm saw; none is recorded where
 * the stand-in kubelet never ran as a service. True when one was restarted (its static pods with it).
 */
export function kubeletRestartedByKubeadm(
  state: ClusterState,
  node: string,
  version: string,
  now: number,
): boolean {
  const running = state.runningKubelets[node];
  if (running !== undefined) state.runningKubelets[node] = { ...running, version, startedAt: now };
  return running !== undefined;
}

/** kubeadm reset stops the kubelet. */
export function forgetRunningKubelet(state: ClusterState, node: string): void {
  delete state.runningKubelets[node];
}

/**
 * kubeadm's kubelet-start phase on a host booted with systemd (the fleet lab): `systemctl restart
 * kubelet`, as the real kubeadm does, so the unit is active afterwards and its start
 * (`kubelet --standin-start`) records the running version and starts the stand-in API server of a
 * control plane. Call it outside any state update: the unit's start takes the state's lock too.
 * False on hosts without systemd (fake host roots), where nothing runs as a service.
 */
export function restartKubeletUnit(env: StandinEnv): boolean {
  if (!existsSync(env.hostPath('/run/systemd/system'))) return false;
  try {
    execFileSync('systemctl', ['restart', 'kubelet.service'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch (err) {
    // the real kubeadm warns and goes on; the kubelet is then started by whoever notices
    process.stderr.write(
      `[kubelet-start] WARNING: unable to start the kubelet service: ${(err as Error).message}\n`,
    );
    return false;
  }
}
