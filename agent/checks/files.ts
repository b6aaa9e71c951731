import type { Check, CheckOutcome, Phase } from './check.js';
import { CONTROL_PLANE_PHASES, JOIN_PHASES, fail, pass, pathCheckId, phaseOf } from './check.js';
import { isJoinLeftover } from '../ops/join-leftovers.js';

const MANIFESTS = '/etc/kubernetes/manifests';
const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';
export const ETCD_DATA_DIR = '/var/lib/etcd';

interface PathRule {
  path: string;
  phases: readonly Phase[];
}

/** Files kubeadm refuses to overwrite (kubeadm-facts §1.3, §1.4). */
export const FILES_THAT_MUST_BE_ABSENT: readonly PathRule[] = [
  ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'].map((name) => ({
    path: `${MANIFESTS}/${name}.yaml`,
    phases: CONTROL_PLANE_PHASES,
  })),
  { path: '/etc/kubernetes/kubelet.conf', phases: JOIN_PHASES },
  { path: '/etc/kubernetes/bootstrap-kubelet.conf', phases: JOIN_PHASES },
  { path: '/etc/kubernetes/pki/ca.crt', phases: ['worker-join'] },
];

const RESET_REMEDY =
  'this host already ran kubeadm: run `kubeadm reset` on it, or remove the file if it is left over';

export function judgeFileAvailable(path: string, exists: boolean): CheckOutcome {
  return exists
    ? fail(`${path} exists`, `${path} does not exist`, RESET_REMEDY)
    : pass(`${path} does not exist`, `${path} does not exist`);
}

/** entries: undefined when the directory does not exist. */
export function judgeDirAvailable(path: string, entries: readonly string[] | undefined): CheckOutcome {
  const expected = `${path} absent or empty`;
  if (entries === undefined) return pass(`${path} does not exist`, expected);
  if (entries.length === 0) return pass(`${path} is empty`, expected);
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', ...' : '');
  return fail(`${path} holds ${entries.length} entries (${shown})`, expected, RESET_REMEDY);
}

export const fileChecks = (): Check[] => [
  ...FILES_THAT_MUST_BE_ABSENT.map(({ path, phases }): Check => ({
    id: pathCheckId('FileAvailable', path),
    title: `${path} does not exist yet`,
    severity: 'error',
    appliesTo: { phases },
    run: async ({ host, spec }) => {
      const exists = await host.exists(path);
      // a join that did not finish left it: kubeadm.join resets the host before it joins (agent/ops/join-leftovers.ts)
      if (exists && phaseOf(spec) !== 'init' && isJoinLeftover(path) && !(await host.exists(KUBELET_CONF))) {
        return {
          status: 'warn',
          observed: `${path} exists, and kubelet.conf does not: a join that did not finish left it`,
          expected: `${path} does not exist`,
          remedy: 'the join runs `kubeadm reset -f` on this host before it joins',
        };
      }
      return judgeFileAvailable(path, exists);
    },
  })),
  {
    id: pathCheckId('DirAvailable', ETCD_DATA_DIR),
    title: `${ETCD_DATA_DIR} is absent or empty`,
    severity: 'error',
    appliesTo: { phases: CONTROL_PLANE_PHASES },
    run: async ({ host }) => {
      const stat = await host.stat(ETCD_DATA_DIR);
      if (stat === undefined) return judgeDirAvailable(ETCD_DATA_DIR, undefined);
      if (!stat.isDirectory) {
        return fail(`${ETCD_DATA_DIR} is not a directory`, `${ETCD_DATA_DIR} absent or empty`, RESET_REMEDY);
      }
      return judgeDirAvailable(ETCD_DATA_DIR, await host.listDir(ETCD_DATA_DIR));
    },
  },
];
