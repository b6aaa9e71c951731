import { describe, expect, it } from 'vitest';
import type { ModuleProbe, ModuleState } from '../probes/modules.js';
import {
  judgeKubeProxyModules,
  judgeRuntimeModules,
  kernelAtLeast,
  kubeProxyModules,
} from './kernel-modules.js';

const probe = (name: string, state: ModuleState): ModuleProbe => ({
  name,
  state,
  evidence: `${name} evidence`,
});
const all = (names: readonly string[], state: ModuleState): ModuleProbe[] =>
  names.map((n) => probe(n, state));

describe('kube-proxy kernel modules', () => {
  it.each([
    ['ipvs', '6.1.0', ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack']],
    ['ipvs', '4.18.0-553.el8', ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack_ipv4']],
    ['nftables', '6.1.0', ['nf_tables', 'nf_conntrack']],
    ['iptables', '5.4.0', ['nf_conntrack']],
  ] as const)('mode %s on kernel %s needs %j', (mode, release, modules) => {
    expect(kubeProxyModules(mode, release)).toEqual(modules);
  });

  it.each([
    ['6.18.44-fc-v595', 5, 13, true],
    ['5.13.0', 5, 13, true],
    ['5.12.19', 5, 13, false],
    ['4.19.0', 4, 19, true],
    ['4.18.0', 4, 19, false],
  ])('kernel %s is at least %d.%d: %s', (release, major, minor, atLeast) => {
    expect(kernelAtLeast(release, major, minor)).toBe(atLeast);
  });

  it.each([
    ['loaded', 'pass'],
    ['builtin', 'pass'],
    ['loadable', 'pass'],
    ['missing', 'fail'],
  ] as const)('ipvs with every module %s is %s', (state, status) => {
    const names = kubeProxyModules('ipvs', '6.1.0');
    expect(judgeKubeProxyModules('ipvs', '6.1.0', all(names, state)).status).toBe(status);
  });

  it('fails ipvs without IP_VS, naming the other modes and the kernel option', () => {
    const probes = [
      ...all(['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh'], 'missing'),
      probe('nf_conntrack', 'builtin'),
    ];
    const outcome = judgeKubeProxyModules('ipvs', '6.18.44', probes);
    expect(outcome.status).toBe('fail');
    expect(outcome.remedy).toBe(
      'use kube-proxy mode iptables or nftables, or a kernel with IP_VS, IP_VS_RR, IP_VS_WRR, IP_VS_SH',
    );
    expect(outcome.observed).toContain('ip_vs: missing');
  });

  it('fails nftables on a kernel older than 5.13', () => {
    expect(
      judgeKubeProxyModules('nftables', '5.10.0', all(['nf_tables', 'nf_conntrack'], 'loaded')),
    ).toMatchObject({
      status: 'fail',
      remedy: 'use kube-proxy mode iptables, or boot a kernel 5.13 or newer',
    });
  });

  it('says which modules kctl apply will load', () => {
    expect(
      judgeKubeProxyModules('iptables', '6.1.0', [probe('nf_conntrack', 'loadable')]).observed,
    ).toContain('kctl apply loads nf_conntrack');
  });

  it.each([
    ['built in', all(['overlay', 'br_netfilter'], 'builtin'), 'pass'],
    ['missing br_netfilter', [probe('overlay', 'loaded'), probe('br_netfilter', 'missing')], 'fail'],
  ])('runtime modules %s are %s', (_name, probes, status) => {
    expect(judgeRuntimeModules(probes).status).toBe(status);
  });
});
