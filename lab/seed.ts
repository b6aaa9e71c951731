import { stringify } from 'yaml';
import { LAB_BRIDGE_ADDRESS, LAB_PREFIX_LENGTH } from './network.js';

/**
 * The cloud-init NoCloud seed a lab host boots with (/var/lib/cloud/seed/nocloud/). `lab up`
 * takes the seed as input; the defaults here only set the hostname and the lab address, so the
 * lab can boot on its own. `kctl lab up` later passes `kctl cloud-init` output as userData.
 */
export interface LabSeed {
  userData: string;
  metaData: string;
  /** cloud-init network-config v2; defaults to labNetworkConfig(host) */
  networkConfig?: string;
}

/** What a seed function knows about the host it seeds. */
export interface LabHostPlan {
  /** 1-based */
  index: number;
  name: string;
  address: string;
  prefixLength: number;
  /** the bridge address: where the controller (and the bundle repo) listens */
  controllerAddress: string;
}

/** meta-data: a per-boot-of-this-lab instance id, so cloud-init runs its per-instance modules. */
export function labMetaData(host: LabHostPlan, instanceSuffix: string): string {
  return stringify({ 'instance-id': `kctl-lab-${host.name}-${instanceSuffix}`, 'local-hostname': host.name });
}

/** network-config v2: a static address on eth0, no gateway and no DNS (nothing leaves the machine). */
export function labNetworkConfig(host: LabHostPlan): string {
  return stringify({
    version: 2,
    ethernets: { eth0: { addresses: [`${host.address}/${host.prefixLength}`] } },
  });
}

export function defaultLabUserData(host: LabHostPlan): string {
  return `#cloud-config\n${stringify({ hostname: host.name, manage_etc_hosts: true })}`;
}

export function defaultLabSeed(host: LabHostPlan, instanceSuffix: string): LabSeed {
  return {
    userData: defaultLabUserData(host),
    metaData: labMetaData(host, instanceSuffix),
    networkConfig: labNetworkConfig(host),
  };
}

export function labHostPlan(index: number, name: string, address: string): LabHostPlan {
  return { index, name, address, prefixLength: LAB_PREFIX_LENGTH, controllerAddress: LAB_BRIDGE_ADDRESS };
}
