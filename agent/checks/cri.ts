import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

/** The sockets kubeadm auto-detects (kubeadm-facts §1.5); /var/run is usually a link to /run. */
export const KNOWN_CRI_SOCKETS: readonly { runtime: string; path: string }[] = [
  { runtime: 'containerd', path: '/var/run/containerd/containerd.sock' },
  { runtime: 'cri-o', path: '/var/run/crio/crio.sock' },
  { runtime: 'cri-dockerd', path: '/var/run/cri-dockerd.sock' },
];

export function socketPath(endpoint: string): string {
  return endpoint.replace(/^unix:\/\//, '');
}

/** found: the known sockets present; configured: spec.criSocket when the operator set one. */
export function judgeCriSockets(
  found: readonly string[],
  configured: string | undefined,
  configuredExists: boolean,
): CheckOutcome {
  if (configured !== undefined) {
    const expected = `${configured} exists`;
    return configuredExists
      ? pass(`${configured} exists`, expected)
      : fail(
          `${configured} does not exist`,
          expected,
          'install and start the container runtime, or fix criSocket',
        );
  }
  const expected = 'exactly one CRI socket among the known ones';
  if (found.length === 1) return pass(`found ${found[0]}`, expected);
  if (found.length === 0) {
    return fail(
      'no CRI socket found',
      expected,
      'install and start a container runtime (containerd, CRI-O or cri-dockerd); kctl apply installs containerd',
    );
  }
  return fail(
    `found multiple CRI endpoints on the host: ${found.join(', ')}`,
    expected,
    'set criSocket in cluster.yaml to the runtime kubelet must use, or remove the other runtimes',
  );
}

export const criChecks = (): Check[] => [
  {
    id: 'CRI',
    title: 'one container runtime socket',
    severity: 'error',
    appliesTo: {},
    run: async ({ host, spec }) => {
      if (spec.criSocket !== undefined) {
        const path = socketPath(spec.criSocket);
        const exists =
          (await host.exists(path)) || (await host.exists(path.replace(/^\/var\/run\//, '/run/')));
        return judgeCriSockets([], spec.criSocket, exists);
      }
      const present = await Promise.all(
        KNOWN_CRI_SOCKETS.map(
          async ({ path }) =>
            (await host.exists(path)) || (await host.exists(path.replace(/^\/var\/run\//, '/run/'))),
        ),
      );
      return judgeCriSockets(
        KNOWN_CRI_SOCKETS.filter((_, i) => present[i]).map(({ path }) => `unix://${path}`),
        undefined,
        false,
      );
    },
  },
];
