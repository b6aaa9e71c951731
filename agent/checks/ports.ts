import type { Listener } from '../probes/listeners.js';
import type { PreflightSpec } from '../../proto/checks.js';
import type { Check, CheckOutcome, Phase } from './check.js';
import { ALL_PHASES, CONTROL_PLANE_PHASES, fail, pass } from './check.js';

export const DEFAULT_API_SERVER_PORT = 6443;

interface PortUse {
  port: number;
  purpose: string;
  phases: readonly Phase[];
}

/** kubeadm's Port-<n> checks: control-plane components, local etcd, and the kubelet on every node. */
export function portsFor(spec: PreflightSpec): PortUse[] {
  return [
    {
      port: spec.apiServerPort ?? DEFAULT_API_SERVER_PORT,
      purpose: 'kube-apiserver',
      phases: CONTROL_PLANE_PHASES,
    },
    { port: 10259, purpose: 'kube-scheduler', phases: CONTROL_PLANE_PHASES },
    { port: 10257, purpose: 'kube-controller-manager', phases: CONTROL_PLANE_PHASES },
    { port: 2379, purpose: 'etcd client', phases: CONTROL_PLANE_PHASES },
    { port: 2380, purpose: 'etcd peer', phases: CONTROL_PLANE_PHASES },
    { port: 10250, purpose: 'kubelet', phases: ALL_PHASES },
  ];
}

/** A port is free when nothing listens on it (/proc/net/tcp, tcp6) and a listen on it succeeds now. */
export function judgePort(
  port: number,
  purpose: string,
  listeners: readonly Listener[],
  canBind: boolean,
): CheckOutcome {
  const expected = `TCP port ${port} free for ${purpose}`;
  const holders = listeners.filter((l) => l.port === port);
  if (holders.length > 0) {
    const where = holders
      .map((l) => (l.family === 6 ? `[${l.address}]:${port}` : `${l.address}:${port}`))
      .join(', ');
    return fail(
      `listening on ${where}`,
      expected,
      `stop the process listening on port ${port} (see \`ss -ltnp 'sport = :${port}'\`), or run kubeadm reset if it is an old Kubernetes component`,
    );
  }
  if (!canBind) {
    return fail(
      `port ${port} cannot be bound`,
      expected,
      `find what holds port ${port} (\`ss -ltnp\`), or check that no other process or policy blocks binding it`,
    );
  }
  return pass(`port ${port} free`, expected);
}

export const portChecks = (spec: PreflightSpec): Check[] =>
  portsFor(spec).map(({ port, purpose, phases }) => ({
    id: `Port-${port}`,
    title: `port ${port} (${purpose}) is free`,
    severity: 'error',
    appliesTo: { phases },
    run: async ({ host, probes }) => {
      const listeners = await probes.listeners();
      // no bind test when a listener is already known: the answer would not change
      const bindable = listeners.some((l) => l.port === port) ? false : await host.canBind(port);
      return judgePort(port, purpose, listeners, bindable);
    },
  }));
