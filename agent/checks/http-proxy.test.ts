import { describe, expect, it } from 'vitest';
import { judgeProxy, judgeProxyCidrs, proxyFor } from './http-proxy.js';
import { endpointHost, familiesInUse, firstHostAddress } from './addresses.js';

const PROXY = 'http://proxy.corp:3128';

describe('proxyFor follows Go httpproxy rules', () => {
  it.each([
    ['no proxy configured', '10.0.0.10', {}, undefined],
    ['HTTPS_PROXY set', '10.0.0.10', { HTTPS_PROXY: PROXY }, PROXY],
    ['only https_proxy set', '10.0.0.10', { https_proxy: PROXY }, PROXY],
    ['only HTTP_PROXY set (not used for https)', '10.0.0.10', { HTTP_PROXY: PROXY }, undefined],
    ['loopback', '127.0.0.1', { HTTPS_PROXY: PROXY }, undefined],
    ['localhost', 'localhost', { HTTPS_PROXY: PROXY }, undefined],
    ['NO_PROXY *', '10.0.0.10', { HTTPS_PROXY: PROXY, NO_PROXY: '*' }, undefined],
    [
      'an exact IP in no_proxy',
      '10.0.0.10',
      { HTTPS_PROXY: PROXY, no_proxy: 'example.com, 10.0.0.10' },
      undefined,
    ],
    ['a CIDR in NO_PROXY', '10.0.0.10', { HTTPS_PROXY: PROXY, NO_PROXY: '10.0.0.0/8' }, undefined],
    ['a CIDR that does not cover it', '192.168.1.1', { HTTPS_PROXY: PROXY, NO_PROXY: '10.0.0.0/8' }, PROXY],
    ['an IPv6 CIDR', 'fd00::1', { HTTPS_PROXY: PROXY, NO_PROXY: 'fd00::/8' }, undefined],
    ['a domain suffix', 'api.k8s.lan', { HTTPS_PROXY: PROXY, NO_PROXY: '.k8s.lan' }, undefined],
    [
      'a bare domain covering subdomains',
      'api.k8s.lan',
      { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.lan' },
      undefined,
    ],
    ['a wildcard domain', 'api.k8s.lan', { HTTPS_PROXY: PROXY, NO_PROXY: '*.k8s.lan' }, undefined],
    ['a different domain', 'api.k8s.lan', { HTTPS_PROXY: PROXY, NO_PROXY: 'other.lan' }, PROXY],
    ['an entry for another port', 'api.k8s.lan', { HTTPS_PROXY: PROXY, NO_PROXY: 'api.k8s.lan:8080' }, PROXY],
    ['an entry for port 443', 'api.k8s.lan', { HTTPS_PROXY: PROXY, NO_PROXY: 'api.k8s.lan:443' }, undefined],
  ])('with %s', (_name, host, env, proxy) => {
    expect(proxyFor(host, env)).toBe(proxy);
  });

  it('warns when the endpoint goes through the proxy and passes when it does not', () => {
    expect(judgeProxy('10.0.0.10', PROXY)).toMatchObject({
      status: 'fail',
      remedy: expect.stringContaining('NO_PROXY'),
    });
    expect(judgeProxy('10.0.0.10', undefined).status).toBe('pass');
  });

  it('tests the first host address of each CIDR', () => {
    const env = { HTTPS_PROXY: PROXY, NO_PROXY: '10.96.0.1' };
    expect(judgeProxyCidrs(['10.96.0.0/12'], env).status).toBe('pass');
    expect(judgeProxyCidrs(['10.96.0.0/12', '10.244.0.0/16'], env)).toMatchObject({
      status: 'fail',
      observed: expect.stringContaining('10.244.0.0/16'),
    });
  });
});

describe('addresses', () => {
  it.each([
    ['10.96.0.0/12', '10.96.0.1'],
    ['10.244.3.7/16', '10.244.0.1'],
    ['fd00:10:96::/112', 'fd00:10:96::1'],
    ['nonsense', undefined],
  ])('the first host address of %s is %s', (cidr, address) => {
    expect(firstHostAddress(cidr)).toBe(address);
  });

  it.each([
    ['cp.example.com:6443', 'cp.example.com'],
    ['10.0.0.5', '10.0.0.5'],
    ['[fd00::5]:6443', 'fd00::5'],
    ['fd00::5', 'fd00::5'],
    ['https://10.0.0.5:6443', '10.0.0.5'],
  ])('the host of endpoint %s is %s', (endpoint, host) => {
    expect(endpointHost(endpoint)).toBe(host);
  });

  it.each([
    ['init with IPv4 CIDRs', 'init', { podSubnet: '10.244.0.0/16' }, [4]],
    ['init with dual-stack', 'init', { podSubnet: '10.244.0.0/16,fd00::/56' }, [4, 6]],
    ['a join to an IPv6 endpoint', 'worker-join', { controlPlaneEndpoint: '[fd00::5]:6443' }, [6]],
    ['a join to a DNS endpoint', 'worker-join', { controlPlaneEndpoint: 'cp.lan:6443' }, [4]],
  ] as const)('%s uses IP families %j', (_name, phase, fields, families) => {
    const spec = {
      role: 'worker',
      kubernetesVersion: 'v1.33.0',
      isFirstControlPlane: false,
      kubeProxyMode: 'iptables',
      ...fields,
    } as const;
    expect([...familiesInUse(spec, phase)].sort()).toEqual(families);
  });
});
