import { describe, expect, it } from 'vitest';
import { aptDownloadArgs, bundleSourcesLine } from './offline-repo.js';

describe('offline apt repository', () => {
  it.each([
    [
      'http://198.18.0.1:8080/bundle/apt',
      'deb [signed-by=/etc/apt/keyrings/kctl-bundle.gpg] http://198.18.0.1:8080/bundle/apt ./',
    ],
    [
      'https://198.18.0.1:8443/bundle/apt/',
      'deb [signed-by=/etc/apt/keyrings/kctl-bundle.gpg] https://198.18.0.1:8443/bundle/apt ./',
    ],
  ])('hosts reach %s as a signed flat repository', (url, want) => {
    expect(bundleSourcesLine(url)).toBe(want);
  });

  it("apt resolves dependencies against the base's dpkg status and only downloads", () => {
    const args = aptDownloadArgs(['containerd', 'runc'], '/w/status', '/w/archives', '/w');
    expect(args).toEqual(
      expect.arrayContaining([
        'Dir::State::status=/w/status',
        'Dir::Cache::archives=/w/archives',
        'APT::Install-Recommends=false',
        'APT::Get::AllowUnauthenticated=false',
        'install',
        '--download-only',
        'containerd',
        'runc',
      ]),
    );
    expect(args.indexOf('--download-only')).toBeLessThan(args.indexOf('containerd'));
  });
});
