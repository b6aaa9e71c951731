import { describe, expect, it } from 'vitest';
import { kernelConfigPaths, parseKernelConfig } from './kernel-config.js';
import { parseProcNetTcp } from './listeners.js';
import { configSymbolForModule, parseModulePaths, parseProcModules } from './modules.js';
import { parseSwaps } from './swaps.js';

describe('kernel config', () => {
  it('reads y, m and string values and leaves out unset options', () => {
    const values = parseKernelConfig(
      'CONFIG_IP_VS=m\n# CONFIG_MODULES is not set\nCONFIG_LOCALVERSION="-fc"\nCONFIG_INET=y\n',
    );
    expect([...values]).toEqual([
      ['IP_VS', 'm'],
      ['LOCALVERSION', '"-fc"'],
      ['INET', 'y'],
    ]);
  });

  it('looks in /proc/config.gz first, then /boot, in system-validators order', () => {
    const paths = kernelConfigPaths('6.1.0-18-amd64');
    expect(paths.slice(0, 2)).toEqual(['/proc/config.gz', '/boot/config-6.1.0-18-amd64']);
    expect(paths).toContain('/lib/modules/6.1.0-18-amd64/build/.config');
    expect(paths).toHaveLength(9);
  });
});

describe('listeners', () => {
  // 0.0.0.0:2024 and 127.0.0.1:10248 listening, one established connection; [::]:6443 listening
  const TCP = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1215 1',
    '   1: 0100007F:2808 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1216 1',
    '   2: 0100007F:07E8 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000     0        0 1217 1',
  ].join('\n');
  const TCP6 = [
    '  sl  local_address                         remote_address                        st',
    '   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A 00000000:00000000',
    '   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000',
  ].join('\n');

  it('lists IPv4 LISTEN sockets with their address and port', () => {
    expect(parseProcNetTcp(TCP, 4)).toEqual([
      { family: 4, address: '0.0.0.0', port: 2024 },
      { family: 4, address: '127.0.0.1', port: 10248 },
    ]);
  });

  it('lists IPv6 LISTEN sockets, including v4-mapped addresses', () => {
    expect(parseProcNetTcp(TCP6, 6)).toEqual([
      { family: 6, address: '::', port: 6443 },
      { family: 6, address: '::ffff:7f00:1', port: 80 },
    ]);
  });
});

describe('swaps', () => {
  it('reads entries after the header', () => {
    const text =
      'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap\\040file\tfile\t1048572\t0\t-2\n/dev/sda2 partition 2097148 512 -3\n';
    expect(parseSwaps(text)).toEqual([
      { filename: '/swap file', type: 'file', sizeKiB: 1048572, usedKiB: 0, priority: -2 },
      { filename: '/dev/sda2', type: 'partition', sizeKiB: 2097148, usedKiB: 512, priority: -3 },
    ]);
  });

  it('finds nothing in a header-only file', () => {
    expect(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n')).toEqual([]);
  });
});

describe('module lists', () => {
  it('reads /proc/modules names with - and _ treated alike', () => {
    expect([...parseProcModules('ip_vs 180224 6 ip_vs_rr, Live 0x0\nnf-foo 1 0 - Live 0x0\n')]).toEqual([
      'ip_vs',
      'nf_foo',
    ]);
  });

  it('reads module names from modules.builtin and modules.dep paths, compressed or not', () => {
    const dep =
      'kernel/net/netfilter/ipvs/ip_vs.ko.zst: kernel/net/netfilter/nf_conntrack.ko.zst\nkernel/net/bridge/br_netfilter.ko:\n';
    expect([...parseModulePaths(dep)]).toEqual(['ip_vs', 'br_netfilter']);
  });

  it.each([
    ['br_netfilter', 'BRIDGE_NETFILTER'],
    ['overlay', 'OVERLAY_FS'],
    ['ip_vs_rr', 'IP_VS_RR'],
    ['nf_conntrack', 'NF_CONNTRACK'],
  ])('maps module %s to CONFIG_%s', (name, symbol) => {
    expect(configSymbolForModule(name)).toBe(symbol);
  });
});
