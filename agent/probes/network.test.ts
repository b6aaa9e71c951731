import { describe, expect, it } from 'vitest';
import {
  addressesFromInterfaces,
  compressIpv6,
  isHostInterface,
  normaliseMac,
  parseFibTrieLocalAddresses,
  parseIfInet6,
} from './network.js';

// /proc/net/fib_trie as this machine prints it (one NIC, 192.0.2.2/24)
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 192.0.2.2
              /32 host LOCAL
`;

describe('network probes', () => {
  it('finds the local IPv4 addresses in fib_trie without loopback or duplicates', () => {
    expect(parseFibTrieLocalAddresses(FIB_TRIE)).toEqual(['192.0.2.2']);
  });

  it('keeps only global IPv6 addresses of host interfaces from if_inet6', () => {
    const text = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fe800000000000000000000000000001 02 40 20 80     eth0',
      '20010db8000000000000000000000010 02 40 00 80     eth0',
      '20010db8000000000000000000000099 07 40 00 80  cali1234',
    ].join('\n');
    expect(parseIfInet6(text)).toEqual(['2001:db8::10']);
  });

  it.each([
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['fd000000000000010000000000000000', 'fd00:0:0:1::'],
  ])('compresses %s to %s', (hex, text) => {
    expect(compressIpv6(hex)).toBe(text);
  });

  it.each([
    ['eth0', true],
    ['ens3', true],
    ['bond0', true],
    ['lowpan0', true],
    ['lo', false],
    ['veth12ab', false],
    ['cali0abc', false],
    ['kube-ipvs0', false],
    ['flannel.1', false],
    ['cni0', false],
  ])('treats interface %s as the host own: %s', (name, own) => {
    expect(isHostInterface(name)).toBe(own);
  });

  it.each([
    ['02:FC:00:00:00:01\n', '02:fc:00:00:00:01'],
    ['00:00:00:00:00:00', undefined],
    ['', undefined],
    ['00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00', undefined],
  ])('normalises MAC %j to %j', (raw, mac) => {
    expect(normaliseMac(raw)).toBe(mac);
  });

  it('takes addresses from os.networkInterfaces without internal, link-local or pod interfaces', () => {
    expect(
      addressesFromInterfaces({
        lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
        eth0: [
          { address: '192.0.2.2', family: 'IPv4', internal: false },
          { address: 'fe80::1', family: 'IPv6', internal: false },
          { address: '2001:db8::2', family: 'IPv6', internal: false },
        ],
        'kube-ipvs0': [{ address: '10.96.0.1', family: 'IPv4', internal: false }],
      }),
    ).toEqual(['192.0.2.2', '2001:db8::2']);
  });
});
