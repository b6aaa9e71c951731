import type { Host } from '../host/host.js';
import { readKernelConfig } from './kernel-config.js';
import type { KernelConfig } from './kernel-config.js';
import { readKernelRelease } from './system.js';

export type ModuleState = 'loaded' | 'builtin' | 'loadable' | 'missing';

export interface ModuleProbe {
  name: string;
  state: ModuleState;
  /** how the state was found, for a check's `observed` text */
  evidence: string;
}

/** Kernel config symbols whose name is not simply the module name in upper case. */
const CONFIG_SYMBOLS: Readonly<Record<string, string>> = {
  br_netfilter: 'BRIDGE_NETFILTER',
  overlay: 'OVERLAY_FS',
  configs: 'IKCONFIG',
  nf_conntrack_ipv4: 'NF_CONNTRACK_IPV4',
  iptable_filter: 'IP_NF_FILTER',
  iptable_nat: 'IP_NF_NAT',
};

/** A sysctl directory that exists only when the module's code is in the kernel (kubespray's technique). */
const SYSCTL_TREES: Readonly<Record<string, string>> = {
  br_netfilter: '/proc/sys/net/bridge',
  ip_vs: '/proc/sys/net/ipv4/vs',
  nf_conntrack: '/proc/sys/net/netfilter/nf_conntrack_max',
};

export function configSymbolForModule(name: string): string {
  return CONFIG_SYMBOLS[name] ?? name.toUpperCase();
}

/** Module names are the same with - or _ (modprobe treats them alike; /proc/modules prints _). */
export function normaliseModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Names in /proc/modules (first column). */
export function parseProcModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.split(' ')[0];
    if (name) names.add(normaliseModuleName(name));
  }
  return names;
}

/** Module names from paths in modules.builtin or modules.dep ("kernel/net/x/foo.ko.zst: deps"). */
export function parseModulePaths(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const path = line.split(':')[0]?.trim();
    const file = path?.split('/').pop();
    const match = file ? /^(.+?)\.ko(\.(xz|zst|gz))?$/.exec(file) : null;
    if (match?.[1]) names.add(normaliseModuleName(match[1]));
  }
  return names;
}

/** What one module lookup needs from the host; read once and shared by many lookups. */
export interface ModuleEnvironment {
  release: string;
  /** undefined: no /proc/modules, a kernel built without module support */
  loaded: Set<string> | undefined;
  builtin: Set<string>;
  available: Set<string>;
  config: KernelConfig | undefined;
}

export async function readModuleEnvironment(
  host: Host,
  known: { release?: string; config?: KernelConfig | undefined } = {},
): Promise<ModuleEnvironment> {
  const release = known.release ?? (await readKernelRelease(host));
  const moduleDirs = [`/lib/modules/${release}`, `/usr/lib/modules/${release}`];
  const [procModules, builtinTexts, depTexts, config] = await Promise.all([
    host.readFile('/proc/modules').catch(() => undefined),
    Promise.all(moduleDirs.map((d) => host.readFile(`${d}/modules.builtin`).catch(() => undefined))),
    Promise.all(moduleDirs.map((d) => host.readFile(`${d}/modules.dep`).catch(() => undefined))),
    'config' in known ? known.config : readKernelConfig(host, release),
  ]);
  return {
    release,
    loaded: procModules === undefined ? undefined : parseProcModules(procModules),
    builtin: parseModulePaths(builtinTexts.find((t) => t !== undefined) ?? ''),
    available: parseModulePaths(depTexts.find((t) => t !== undefined) ?? ''),
    config,
  };
}

/**
 * Loaded (/proc/modules), built in (modules.builtin, /sys/module/<name>, CONFIG_<X>=y, or its sysctl tree),
 * loadable (a module file listed in modules.dep) or missing. On a kernel without module support nothing
 * is loadable, and `=m` in its config cannot be loaded either.
 */
export async function probeModule(host: Host, rawName: string, env: ModuleEnvironment): Promise<ModuleProbe> {
  const name = normaliseModuleName(rawName);
  const found = (state: ModuleState, evidence: string): ModuleProbe => ({ name, state, evidence });
  if (env.loaded?.has(name)) return found('loaded', 'listed in /proc/modules');
  if (env.builtin.has(name)) return found('builtin', `listed in /lib/modules/${env.release}/modules.builtin`);
  const symbol = configSymbolForModule(name);
  if (env.config?.values.get(symbol) === 'y')
    return found('builtin', `CONFIG_${symbol}=y in ${env.config.source}`);
  const tree = SYSCTL_TREES[name];
  const [sysModule, sysctlTree] = await Promise.all([
    host.exists(`/sys/module/${name}`),
    tree === undefined ? Promise.resolve(false) : host.exists(tree),
  ]);
  // /sys/module/<name> exists for loaded and built-in modules; not loaded here, so built in
  if (sysModule) return found('builtin', `/sys/module/${name} exists and it is not in /proc/modules`);
  if (sysctlTree && tree !== undefined)
    return found('builtin', `${tree} exists and it is not in /proc/modules`);
  if (env.loaded === undefined) {
    const configNote = env.config
      ? `CONFIG_${symbol} is ${env.config.values.get(symbol) ?? 'not set'}`
      : 'no kernel config';
    return found('missing', `kernel has no module support (no /proc/modules) and ${configNote}`);
  }
  if (env.available.has(name))
    return found('loadable', `module file listed in /lib/modules/${env.release}/modules.dep`);
  return found('missing', `not loaded, not built in, no module file for kernel ${env.release}`);
}

/** One module's state; reads the host's module lists each call, so prefer probeModule with a shared env. */
export async function detectModule(host: Host, name: string): Promise<ModuleState> {
  return (await probeModule(host, name, await readModuleEnvironment(host))).state;
}
