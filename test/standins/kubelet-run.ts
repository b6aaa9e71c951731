import type { ClusterState } from './cluster-state.js';

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
