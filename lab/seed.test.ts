import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultLabSeed, labHostPlan } from './seed.js';

describe('default lab seed', () => {
  const host = labHostPlan(3, 'lab-3', '198.18.0.13');
  const seed = defaultLabSeed(host, 'abcd');

  it('the host plan carries the /24 and the controller address on the bridge', () => {
    expect(host).toEqual({
      index: 3,
      name: 'lab-3',
      address: '198.18.0.13',
      prefixLength: 24,
      controllerAddress: '198.18.0.1',
    });
  });

  it('user-data is #cloud-config that sets the hostname only', () => {
    expect(seed.userData.startsWith('#cloud-config\n')).toBe(true);
    expect(parse(seed.userData)).toEqual({ hostname: 'lab-3', manage_etc_hosts: true });
  });

  it('meta-data names the instance and the local hostname', () => {
    expect(parse(seed.metaData)).toEqual({ 'instance-id': 'kctl-lab-lab-3-abcd', 'local-hostname': 'lab-3' });
  });

  it('network-config v2 gives eth0 its address and no gateway or DNS', () => {
    expect(parse(seed.networkConfig ?? '')).toEqual({
      version: 2,
      ethernets: { eth0: { addresses: ['198.18.0.13/24'] } },
    });
  });
});
