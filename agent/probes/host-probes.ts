import type { Host } from '../host/host.js';
import { readCgroups } from './cgroups.js';
import type { CgroupInfo } from './cgroups.js';
import { readKernelConfig } from './kernel-config.js';
import type { KernelConfig } from './kernel-config.js';
import { readListeners } from './listeners.js';
import type { Listener } from './listeners.js';
import { probeModule, readModuleEnvironment } from './modules.js';
import type { ModuleEnvironment, ModuleProbe } from './modules.js';
import { readSwaps } from './swaps.js';
import type { SwapEntry } from './swaps.js';
import { readKernelRelease } from './system.js';

/**
 * The host reads that several checks share, each done at most once per preflight run.
 * Make one per run: values are not refreshed.
 */
export interface HostProbes {
  kernelRelease(): Promise<string>;
  kernelConfig(): Promise<KernelConfig | undefined>;
  cgroups(): Promise<CgroupInfo>;
  listeners(): Promise<Listener[]>;
  swaps(): Promise<SwapEntry[]>;
  moduleEnvironment(): Promise<ModuleEnvironment>;
  module(name: string): Promise<ModuleProbe>;
}

export function createHostProbes(host: Host): HostProbes {
  const once = <T>(read: () => Promise<T>): (() => Promise<T>) => {
    let value: Promise<T> | undefined;
    return () => (value ??= read());
  };
  const kernelRelease = once(() => readKernelRelease(host));
  const kernelConfig = once(async () => readKernelConfig(host, await kernelRelease()));
  const moduleEnvironment = once(async () => {
    const [release, config] = await Promise.all([kernelRelease(), kernelConfig()]);
    return readModuleEnvironment(host, { release, config });
  });
  const modules = new Map<string, Promise<ModuleProbe>>();
  return {
    kernelRelease,
    kernelConfig,
    cgroups: once(() => readCgroups(host)),
    listeners: once(() => readListeners(host)),
    swaps: once(() => readSwaps(host)),
    moduleEnvironment,
    module(name) {
      let probe = modules.get(name);
      if (probe === undefined) {
        probe = moduleEnvironment().then((env) => probeModule(host, name, env));
        modules.set(name, probe);
      }
      return probe;
    },
  };
}
