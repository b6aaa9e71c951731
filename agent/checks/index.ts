import type { Host } from '../host/host.js';
import { createHostProbes } from '../probes/host-probes.js';
import type { CheckResult, PreflightSpec } from '../../proto/checks.js';
import { checkApplies } from './check.js';
import type { Check, CheckInput, CheckOutcome } from './check.js';
import { binaryChecks } from './binaries.js';
import { clockOffsetChecks } from './clock-offset.js';
import { cpuMemChecks } from './cpu-mem.js';
import { criChecks } from './cri.js';
import { diskChecks } from './disk.js';
import { fileChecks } from './files.js';
import { forwardingChecks } from './forwarding.js';
import { hostnameChecks } from './hostname.js';
import { httpProxyChecks } from './http-proxy.js';
import { identityChecks } from './identity.js';
import { kernelModuleChecks } from './kernel-modules.js';
import { kubeletVersionChecks } from './kubelet-version.js';
import { loadBalancerChecks } from './load-balancer.js';
import { portChecks } from './ports.js';
import { resolvConfChecks } from './resolv-conf.js';
import { rootChecks } from './root.js';
import { selinuxFirewalldChecks } from './selinux-firewalld.js';
import { swapChecks } from './swap.js';
import { systemVerificationChecks } from './system-verification.js';
import { timeSyncChecks } from './time-sync.js';

/** Every check family, in report order; a family builds its checks from the spec (ports, CIDR families). */
const CHECK_FAMILIES: readonly ((spec: PreflightSpec) => Check[])[] = [
  rootChecks,
  cpuMemChecks,
  portChecks,
  fileChecks,
  swapChecks,
  forwardingChecks,
  binaryChecks,
  criChecks,
  kubeletVersionChecks,
  hostnameChecks,
  httpProxyChecks,
  systemVerificationChecks,
  kernelModuleChecks,
  identityChecks,
  timeSyncChecks,
  clockOffsetChecks,
  resolvConfChecks,
  diskChecks,
  selinuxFirewalldChecks,
  loadBalancerChecks,
];

/** The checks that apply to this spec (its phase and Kubernetes version), in report order. */
export function preflightChecks(spec: PreflightSpec): Check[] {
  // a dedicated lb host runs no kubeadm: only the VIP and VRRP checks
  if (spec.only === 'load-balancer') return loadBalancerChecks(spec);
  return CHECK_FAMILIES.flatMap((family) => family(spec)).filter((check) => checkApplies(check, spec));
}

const MAX_TEXT = 4096;
const clip = (text: string): string => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 3)}...` : text);

/** kubeadm --ignore-preflight-errors: case-insensitive ids, "all" for everything. */
export function isIgnored(
  check: Pick<Check, 'id' | 'ignoreGroup'>,
  ignore: readonly string[] | undefined,
): boolean {
  const set = new Set((ignore ?? []).map((name) => name.toLowerCase()));
  return (
    set.has('all') ||
    set.has(check.id.toLowerCase()) ||
    (check.ignoreGroup !== undefined && set.has(check.ignoreGroup.toLowerCase()))
  );
}

/** A check's outcome as reported: warning checks never fail, ignored failures become warnings. */
export function toCheckResult(
  check: Check,
  outcome: CheckOutcome,
  ignore: readonly string[] | undefined,
): CheckResult {
  let status = outcome.status;
  if (status === 'fail' && check.severity === 'warning') status = 'warn';
  const ignored = status === 'fail' && isIgnored(check, ignore);
  if (ignored) status = 'warn';
  const result: CheckResult = {
    id: check.id,
    title: check.title,
    severity: check.severity,
    status,
    observed: clip(outcome.observed),
    expected: clip(outcome.expected),
    remedy: status === 'pass' || status === 'skip' ? '' : clip(outcome.remedy ?? ''),
  };
  if (ignored) result.ignored = true;
  return result;
}

export interface PreflightOptions {
  env?: Readonly<Record<string, string | undefined>>;
  resolveName?: (name: string) => Promise<boolean>;
  freeBytes?: (path: string) => Promise<number | undefined>;
  /** the agent's measured clock offset from the controller (agent/controller-clock.ts) */
  clockOffset?: CheckInput['clockOffset'];
  /** a check still running after this long fails; default 5 s */
  checkTimeoutMs?: number;
}

const DNS_TIMEOUT_MS = 500;

/** Free bytes of the filesystem holding the path, or its nearest existing parent (statfs, no process). */
export async function freeBytesAt(host: Host, path: string): Promise<number | undefined> {
  for (let at = path; ; at = at.slice(0, at.lastIndexOf('/')) || '/') {
    const space = await host.statfs(at);
    if (space !== undefined) return space.freeBytes;
    if (at === '/') return undefined;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runOne(check: Check, input: CheckInput, timeoutMs: number): Promise<CheckOutcome> {
  const failed = (observed: string): CheckOutcome => ({
    status: 'fail',
    observed,
    expected: check.title,
    remedy: 'see the agent log for this check',
  });
  try {
    return await withTimeout(check.run(input), timeoutMs, () =>
      failed(`check did not finish within ${timeoutMs} ms`),
    );
  } catch (err) {
    return failed(`check could not run: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Runs every applicable check concurrently; shared host reads happen once. */
export async function runPreflight(
  host: Host,
  spec: PreflightSpec,
  options: PreflightOptions = {},
): Promise<CheckResult[]> {
  const input: CheckInput = {
    host,
    spec,
    probes: createHostProbes(host),
    env: options.env ?? {},
    // a short wait: a dead resolver must not stall preflight
    resolveName: options.resolveName ?? ((name) => host.net.resolves(name, DNS_TIMEOUT_MS)),
    freeBytes: options.freeBytes ?? ((path) => freeBytesAt(host, path)),
    ...(options.clockOffset ? { clockOffset: options.clockOffset } : {}),
  };
  const checks = preflightChecks(spec);
  const outcomes = await Promise.all(
    checks.map((check) => runOne(check, input, options.checkTimeoutMs ?? 5000)),
  );
  return checks.map((check, i) => toCheckResult(check, outcomes[i] ?? failedMissing(check), spec.ignore));
}

function failedMissing(check: Check): CheckOutcome {
  return { status: 'fail', observed: 'no outcome', expected: check.title, remedy: '' };
}
