import { cpus, totalmem } from 'node:os';
import { hostDirIsEmpty, hostExists, readHostFile } from './host-files.js';
import type { Semver } from './k8s-values.js';
import { StandinExit, type StandinEnv } from './standin-env.js';

/**
 * kubeadm preflight checks the stand-in can judge from the host root (kubeadm-facts.md §1): the
 * FileAvailable/DirAvailable/FileContent checks, Swap, KubeletVersion, KubernetesVersion, and on a
 * real root IsPrivilegedUser, NumCPU and Mem. Port, CRI and system checks need a real node and are
 * not made. Names, wording and --ignore-preflight-errors behave as kubeadm's.
 */

export interface CheckResult {
  errors: string[];
  warnings: string[];
}

export interface Check {
  name: string;
  run(): CheckResult;
}

const ok = (): CheckResult => ({ errors: [], warnings: [] });
const error = (msg: string): CheckResult => ({ errors: [msg], warnings: [] });
const warning = (msg: string): CheckResult => ({ errors: [], warnings: [msg] });

/** Path-derived names: every "/" becomes "-", so "/etc/x" gives "FileAvailable--etc-x". */
const pathName = (path: string): string => path.replaceAll('/', '-');

export function fileAvailable(env: StandinEnv, path: string): Check {
  return {
    name: `FileAvailable-${pathName(path)}`,
    run: () => (hostExists(env, path) ? error(`${path} already exists`) : ok()),
  };
}

export function dirAvailable(env: StandinEnv, path: string): Check {
  return {
    name: `DirAvailable-${pathName(path)}`,
    run: () => (hostDirIsEmpty(env, path) ? ok() : error(`${path} is not empty`)),
  };
}

export function fileContent(env: StandinEnv, path: string, content: string): Check {
  return {
    name: `FileContent-${pathName(path)}`,
    run: () => {
      const text = readHostFile(env, path);
      if (text === undefined) return error(`${path} does not exist`);
      return text.startsWith(content) ? ok() : error(`${path} contents are not set to ${content}`);
    },
  };
}

export function swapCheck(env: StandinEnv): Check {
  return {
    name: 'Swap',
    run: () => {
      const lines = (readHostFile(env, '/proc/swaps') ?? '').split('\n').filter((l) => l.trim() !== '');
      return lines.length > 1
        ? warning(
            'swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node',
          )
        : ok();
    },
  };
}

/** Only meaningful on a real root: in a temp host root the stand-in runs as whoever runs the tests. */
export function realRootChecks(env: StandinEnv, controlPlane: boolean): Check[] {
  if (env.hostRoot !== '/') return [];
  const checks: Check[] = [
    {
      name: 'IsPrivilegedUser',
      run: () => (process.getuid?.() === 0 ? ok() : error('user is not running as root')),
    },
  ];
  if (controlPlane) {
    checks.push(
      {
        name: 'NumCPU',
        run: () =>
          cpus().length < 2
            ? error(`the number of available CPUs ${cpus().length} is less than the required 2`)
            : ok(),
      },
      {
        name: 'Mem',
        run: () => {
          const mb = Math.floor(totalmem() / 1024 / 1024);
          return mb < 1700 ? error(`the system RAM (${mb} MB) is less than the minimum 1700 MB`) : ok();
        },
      },
    );
  }
  return checks;
}

const short = (v: Semver): string => `${v.major}.${v.minor}.${v.patch}`;

/** `kubelet` is what `kubelet --version` answered on the host (StandinEnv.kubeletVersion). */
export function kubeletVersionCheck(
  answer: { version: Semver } | { error: string },
  kubeadm: Semver,
  controlPlane: Semver | undefined,
): Check {
  return {
    name: 'KubeletVersion',
    run: () => {
      if ('error' in answer) return error(answer.error);
      const kubelet = answer.version;
      if (kubelet.major !== kubeadm.major || kubelet.minor < kubeadm.minor - 3) {
        return error(
          `Kubelet version "${short(kubelet)}" is lower than kubeadm can support. Please upgrade kubelet`,
        );
      }
      if (controlPlane && kubelet.minor > controlPlane.minor) {
        return error(
          `the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: "${short(kubelet)}" Control plane version: "${short(controlPlane)}"`,
        );
      }
      return ok();
    },
  };
}

export function kubernetesVersionCheck(target: Semver, kubeadm: Semver): Check {
  return {
    name: 'KubernetesVersion',
    run: () =>
      target.major > kubeadm.major || (target.major === kubeadm.major && target.minor > kubeadm.minor)
        ? warning(
            `Kubernetes version is greater than kubeadm version. Please consider to upgrade kubeadm. Kubernetes version: ${short(target)}. Kubeadm version: ${kubeadm.major}.${kubeadm.minor}.x`,
          )
        : ok(),
  };
}

/** --ignore-preflight-errors and nodeRegistration.ignorePreflightErrors: lowercased, "all" alone. */
export function ignoreSet(lists: readonly (readonly string[])[]): Set<string> {
  const set = new Set(
    lists
      .flat()
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
  if (set.has('all') && set.size > 1) {
    throw new StandinExit(
      "don't specify individual checks if 'all' is used\nTo see the stack trace of this error execute with --v=5 or higher",
    );
  }
  return set;
}

/** Runs the checks, prints warnings (and ignored errors) and fails like kubeadm when errors remain. */
export function runChecks(
  env: StandinEnv,
  checks: readonly Check[],
  ignore: ReadonlySet<string>,
  phase = 'preflight',
): void {
  const fatal: string[] = [];
  for (const check of checks) {
    const r = check.run();
    const ignored = ignore.has('all') || ignore.has(check.name.toLowerCase());
    for (const w of r.warnings) env.out(`\t[WARNING ${check.name}]: ${w}\n`);
    for (const e of r.errors) {
      if (ignored) env.out(`\t[WARNING ${check.name}]: ${e}\n`);
      else fatal.push(`\t[ERROR ${check.name}]: ${e}`);
    }
  }
  if (fatal.length > 0) {
    throw new StandinExit(
      `error execution phase ${phase}: [preflight] Some fatal errors occurred:\n${fatal.join('\n')}\n` +
        '[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n' +
        'To see the stack trace of this error execute with --v=5 or higher',
    );
  }
}
