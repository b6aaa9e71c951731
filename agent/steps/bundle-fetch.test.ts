import { describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import type { Net } from '../host/net.js';
import { controllerBundleSource } from './bundle-fetch.js';

/** a Net that records what the bundle source asks for and answers with `body` */
function recordingNet(body: unknown): { net: Net; urls: string[] } {
  const urls: string[] = [];
  const fail = (): never => {
    throw new Error('not used by the bundle source');
  };
  const net: Net = {
    requestJson: (request) => {
      urls.push(request.url);
      return Promise.resolve(body);
    },
    openStream: (url) => {
      urls.push(url);
      return Promise.resolve((async function* () {})());
    },
    fetchBytes: fail,
    resolves: fail,
    answers: fail,
  };
  return { net, urls };
}

const credentials = (): { caPem: string; certPem: string; keyPem: string } => ({
  caPem: 'ca',
  certPem: 'cert',
  keyPem: 'key',
});

describe('controllerBundleSource (schemas loaded on first use)', () => {
  it('returns a manifest body that matches the signed manifest schema', async () => {
    const { net, urls } = recordingNet({ manifest: '{}', signature: 'c2ln' });
    const source = controllerBundleSource({ controller: 'https://c.example:9443/', credentials, net });
    await expect(source.manifest()).resolves.toEqual({ manifest: '{}', signature: 'c2ln' });
    expect(urls).toEqual(['https://c.example:9443/v1/bundle/manifest']);
  });

  it.each([
    ['a missing signature', { manifest: '{}' }],
    ['a signature that is not base64', { manifest: '{}', signature: 'not base64!' }],
    ['an unknown key', { manifest: '{}', signature: 'c2ln', extra: 1 }],
  ])('refuses a manifest body with %s as invalid_frame naming the URL', async (_, body) => {
    const { net } = recordingNet(body);
    const source = controllerBundleSource({ controller: 'https://c.example:9443', credentials, net });
    const err = await source.manifest().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).code).toBe('invalid_frame');
    expect((err as KctlError).message).toContain('https://c.example:9443/v1/bundle/manifest');
  });

  it('asks for a file under its percent-encoded path on the connected replica', async () => {
    const { net, urls } = recordingNet(undefined);
    let url = 'https://a.example:9443';
    const source = controllerBundleSource({ controller: () => url, credentials, net });
    await source.file('apt/pool/x%y.deb');
    url = 'https://b.example:9443';
    await source.file('apt/Packages');
    expect(urls).toEqual([
      'https://a.example:9443/v1/bundle/files/apt/pool/x%25y.deb',
      'https://b.example:9443/v1/bundle/files/apt/Packages',
    ]);
  });
});
