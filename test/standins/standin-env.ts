import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseGoDuration, parseSemver, type Semver } from './k8s-values.js';

/**
 * What every stand-in (kubeadm, kubelet, kubectl) reads from its surroundings: the host root it
 * acts on, the shared "cluster" directory, the Kubernetes version it claims to be and the clock.
 * The agent runs programs with a fixed environment, so the cluster directory and the version come
 * from files under the host root first and from environment variables second.
 */
/** Replaced by build.ts (esbuild `define`) when buildStandins is given a version; absent when run from source. */
declare const __KCTL_STANDIN_BUILD_VERSION__: string | undefined;
/** The version a binary claims when nothing on the host or in the environment says otherwise. */
export const BUILD_DEFAULT_VERSION: string =
  typeof __KCTL_STANDIN_BUILD_VERSION__ === 'string' ? __KCTL_STANDIN_BUILD_VERSION__ : 'v1.31.2';
export const STANDIN_ETC = '/etc/kctl-standin';
export const STANDIN_MARK = 'kctl stand-in';

export type ToolName = 'kubeadm' | 'kubelet' | 'kubectl';

/** An expected failure: `message` goes to stderr as it is, the process exits with `exitCode`. */
export class StandinExit extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface StandinEnv {
  readonly tool: ToolName;
  /** absolute; '/' unless KCTL_HOST_ROOT says otherwise */
  readonly hostRoot: string;
  readonly env: NodeJS.ProcessEnv;
  /** maps a host path (absolute, or relative to the working directory) under the host root */
  hostPath(path: string): string;
  /**
   * The version this binary claims: `<root>/etc/kctl-standin/<tool>-version`, then
   * `<root>/etc/kctl-standin/version`, then KCTL_STANDIN_VERSION, then the version baked in at build.
   */
  version(): Semver;
  /**
   * What `kubelet --version` answers on this host, run from PATH as kubeadm's KubeletVersion check
   * runs it; an error message in kubeadm's words when it cannot.
   */
  kubeletVersion(): { version: Semver } | { error: string };
  /** the shared cluster directory; throws StandinExit when none is configured */
  clusterDir(): string;
  /** the cluster directory when one is configured, without failing */
  clusterDirIfAny(): string | undefined;
  /** the stand-in clock in ms since the epoch (KCTL_STANDIN_NOW, then <cluster>/now, then real time) */
  now(): number;
  /** the node name kubeadm would default to: the kernel hostname of this host root, lowercased */
  defaultNodeName(): string;
  /** the node this run acts for, as soon as the command knows it (for calls.jsonl) */
  node: string | undefined;
  out(text: string): void;
  err(text: string): void;
}

function readTrimmed(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/**
 * Parses a clock value: an ISO-8601 time, milliseconds since the epoch, or an offset from the real
 * clock written as a signed Go duration ("+2h1m", "-30m").
 */
export function parseClock(value: string, realNow: number): number | undefined {
  const v = value.trim();
  if (/^[+-]/.test(v)) {
    const ms = parseGoDuration(v.slice(1));
    if (ms === undefined) return undefined;
    return v.startsWith('-') ? realNow - ms : realNow + ms;
  }
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export function createStandinEnv(tool: ToolName, env: NodeJS.ProcessEnv = process.env): StandinEnv {
  const rootSetting = env.KCTL_HOST_ROOT;
  const hostRoot = rootSetting && rootSetting !== '' ? resolve(rootSetting) : '/';
  const hostPath = (path: string): string => {
    const absolute = isAbsolute(path) ? path : resolve(process.cwd(), path);
    return hostRoot === '/' ? absolute : join(hostRoot, absolute);
  };
  const configValue = (file: string, envName: string): string | undefined =>
    readTrimmed(hostPath(`${STANDIN_ETC}/${file}`)) ?? (env[envName] || undefined);

  let clusterDirCache: string | undefined;
  const clusterDirIfAny = (): string | undefined => {
    if (clusterDirCache) return clusterDirCache;
    const dir = configValue('cluster-dir', 'KCTL_STANDIN_CLUSTER_DIR');
    if (!dir) return undefined;
    if (!isAbsolute(dir)) {
      throw new StandinExit(
        `${tool} (${STANDIN_MARK}): the cluster directory "${dir}" must be an absolute path`,
      );
    }
    mkdirSync(dir, { recursive: true });
    clusterDirCache = dir;
    return dir;
  };

  return {
    tool,
    hostRoot,
    env,
    hostPath,
    version() {
      const raw =
        readTrimmed(hostPath(`${STANDIN_ETC}/${tool}-version`)) ??
        configValue('version', 'KCTL_STANDIN_VERSION') ??
        BUILD_DEFAULT_VERSION;
      const v = parseSemver(raw);
      if (!v) {
        throw new StandinExit(
          `${tool} (${STANDIN_MARK}): version "${raw}" (from ${STANDIN_ETC}/${tool}-version, ${STANDIN_ETC}/version, KCTL_STANDIN_VERSION or the build) is not a version like v1.31.2`,
        );
      }
      return v;
    },
    kubeletVersion() {
      let out: string;
      try {
        out = execFileSync('kubelet', ['--version'], {
          env,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 30_000,
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { status?: number | null };
        return {
          error:
            e.code === 'ENOENT'
              ? `couldn't get kubelet version: cannot execute 'kubelet --version': exec: "kubelet": executable file not found in $PATH`
              : `couldn't get kubelet version: cannot execute 'kubelet --version': exit status ${e.status ?? 'unknown'}`,
        };
      }
      const word = /^Kubernetes (\S+)/.exec(out.trim())?.[1];
      const v = word === undefined ? undefined : parseSemver(word);
      return v
        ? { version: v }
        : {
            error: `couldn't get kubelet version: couldn't parse kubelet version ${JSON.stringify(out.trim())}`,
          };
    },
    clusterDir() {
      const dir = clusterDirIfAny();
      if (!dir) {
        throw new StandinExit(
          `${tool} (${STANDIN_MARK}): no cluster directory is configured: write its absolute path to ` +
            `${hostPath(`${STANDIN_ETC}/cluster-dir`)} or set KCTL_STANDIN_CLUSTER_DIR`,
        );
      }
      return dir;
    },
    clusterDirIfAny,
    now() {
      const realNow = Date.now();
      const setting =
        (env.KCTL_STANDIN_NOW || undefined) ??
        (() => {
          const dir = clusterDirIfAny();
          return dir ? readTrimmed(join(dir, 'now')) : undefined;
        })();
      if (setting === undefined) return realNow;
      const t = parseClock(setting, realNow);
      if (t === undefined) {
        throw new StandinExit(
          `${tool} (${STANDIN_MARK}): clock value "${setting}" is neither an ISO time, epoch milliseconds nor a +/- duration`,
        );
      }
      return t;
    },
    defaultNodeName() {
      // kubeadm uses os.Hostname(): the kernel's hostname; a fake root may carry it in /proc
      const name =
        readTrimmed(hostPath('/proc/sys/kernel/hostname')) ??
        (hostRoot === '/' ? hostname() : readTrimmed(hostPath('/etc/hostname'))) ??
        hostname();
      return name.toLowerCase();
    },
    node: undefined,
    out(text) {
      process.stdout.write(text);
    },
    err(text) {
      process.stderr.write(text);
    },
  };
}
