import { describe, expect, it } from 'vitest';
import { parseKubeletVersion } from './kubelet.js';

describe('parseKubeletVersion', () => {
  it.each([
    ['Kubernetes v1.31.2\n', 'v1.31.2'],
    ['Kubernetes v1.33.0-rc.1', 'v1.33.0-rc.1'],
    ['Kubernetes 1.30.4', 'v1.30.4'],
    ['error: unknown flag', undefined],
  ])('reads %j as %j', (output, version) => {
    expect(parseKubeletVersion(output)).toBe(version);
  });
});
