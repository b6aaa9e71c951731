import { describe, expect, it } from 'vitest';
import { renderHaproxyConfig } from './haproxy.js';
import { haproxyKeepalivedPackages, nonlocalBindSysctl } from './haproxy-keepalived-inputs.js';

const BACKENDS = [
  { name: 'cp-1', address: '198.18.0.11' },
  { name: 'cp-2', address: '198.18.0.12' },
];

describe('haproxy.cfg on dedicated lb hosts', () => {
  it('binds the VIP and 127.0.0.1 (the track script), not every address', () => {
    const cfg = renderHaproxyConfig({
      frontendPort: 6443,
      vip: '198.18.0.100',
      backends: BACKENDS,
      placement: 'dedicated',
    });
    expect(cfg).toContain('    bind 198.18.0.100:6443\n    bind 127.0.0.1:6443\n');
    expect(cfg).not.toContain('bind *:');
    expect(cfg).toContain('server cp-2 198.18.0.12:6443');
  });

  it('binds an IPv6 VIP by its address', () => {
    const cfg = renderHaproxyConfig({
      frontendPort: 443,
      vip: 'fd00::100',
      backends: BACKENDS,
      placement: 'dedicated',
    });
    expect(cfg).toContain('    bind fd00::100:443\n    bind 127.0.0.1:443\n');
  });

  it('may take port 6443 there, but not on the control planes', () => {
    expect(() =>
      renderHaproxyConfig({ frontendPort: 6443, vip: '198.18.0.100', backends: BACKENDS }),
    ).toThrow(/cannot listen on 6443/);
  });
});

describe('what runs HAProxy and keepalived', () => {
  const spec = {
    ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: '198.18.0.100', virtualRouterId: 51 },
  } as const;
  it.each([
    ['control-plane', false, true],
    ['worker', false, false],
    ['lb', false, false],
    ['control-plane', true, false],
    ['lb', true, true],
    ['worker', true, false],
  ] as const)('role %s with lb hosts %s: %s', (role, dedicated, runs) => {
    expect(haproxyKeepalivedPackages(spec, role, dedicated).services.length > 0).toBe(runs);
  });

  it('sets ip_nonlocal_bind of the VIP family', () => {
    expect(nonlocalBindSysctl('198.18.0.100')).toEqual({ 'net.ipv4.ip_nonlocal_bind': '1' });
    expect(nonlocalBindSysctl('fd00::100')).toEqual({ 'net.ipv6.ip_nonlocal_bind': '1' });
  });
});
