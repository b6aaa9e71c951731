/**
 * cluster.yaml (ha.mode: haproxy-keepalived) onto the HAProxy and keepalived renderers' inputs,
 * and the files, packages and services a control plane gets for them.
 */
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostFile, HostSpec } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { API_SERVER_BACKEND_PORT, HAPROXY_CONFIG_PATH, renderHaproxyConfig } from './haproxy.js';
import {
  HAPROXY_CHECK_SCRIPT_PATH,
  KEEPALIVED_CONFIG_PATH,
  renderHaproxyCheckScript,
  renderKeepalivedConfig,
} from './keepalived.js';

/** A control plane as the load balancer sees it: `HostAssignment` from controller/spec/resolve.ts fits. */
export interface LbControlPlane {
  name: string;
  address: string | undefined;
}

type HaproxyKeepalived = Extract<ClusterSpec['ha'], { mode: 'haproxy-keepalived' }>;

function addressOf(cp: LbControlPlane): string {
  if (cp.address === undefined)
    throw new KctlError(
      'invalid_spec',
      `Control plane "${cp.name}" has no address for HAProxy's backend and keepalived's peers`,
      { details: { remedy: `give hosts[].address for "${cp.name}" in cluster.yaml` } },
    );
  return cp.address;
}

/**
 * The three files one control plane gets: haproxy.cfg (same on every control plane),
 * keepalived.conf (its own priority and peers) and the track script. Empty for other modes and
 * for hosts that are not control planes.
 */
export function haproxyKeepalivedFiles(
  spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>,
  host: { name: string; role: string },
  controlPlanes: readonly LbControlPlane[],
): HostFile[] {
  const ha = spec.ha;
  if (ha.mode !== 'haproxy-keepalived' || host.role !== 'control-plane') return [];
  const index = controlPlanes.findIndex((c) => c.name === host.name);
  const self = controlPlanes[index];
  if (self === undefined)
    throw new KctlError('internal', `Host "${host.name}" is not among the control planes it balances`);
  const port = spec.controlPlaneEndpoint.port;
  const haproxy = renderHaproxyConfig({
    frontendPort: port,
    vip: ha.vip,
    backends: controlPlanes.map((c) => ({ name: c.name, address: addressOf(c) })),
    backendPort: API_SERVER_BACKEND_PORT,
  });
  const keepalived = renderKeepalivedConfig(keepalivedInput(ha, port, controlPlanes, index));
  return [
    {
      path: HAPROXY_CONFIG_PATH,
      content: haproxy,
      mode: 0o644,
      sensitive: false,
      restarts: ['haproxy.service'],
    },
    {
      path: HAPROXY_CHECK_SCRIPT_PATH,
      content: renderHaproxyCheckScript(port),
      mode: 0o755,
      sensitive: false,
      restarts: ['keepalived.service'],
    },
    {
      path: KEEPALIVED_CONFIG_PATH,
      content: keepalived,
      mode: 0o644,
      sensitive: false,
      restarts: ['keepalived.service'],
    },
  ];
}

function keepalivedInput(
  ha: HaproxyKeepalived,
  haproxyPort: number,
  controlPlanes: readonly LbControlPlane[],
  index: number,
): Parameters<typeof renderKeepalivedConfig>[0] {
  const self = controlPlanes[index];
  if (self === undefined) throw new KctlError('internal', `No control plane at index ${index}`);
  return {
    hostName: self.name,
    interface: ha.interface,
    vip: ha.vip,
    virtualRouterId: ha.virtualRouterId,
    address: addressOf(self),
    peers: controlPlanes.filter((_, i) => i !== index).map(addressOf),
    index,
    haproxyPort,
  };
}

/**
 * HAProxy and keepalived from the host's repositories (or the bundle), not held: security updates
 * of the distribution apply. Enabled and started once installed; their files restart them.
 */
export function haproxyKeepalivedPackages(
  spec: Pick<ClusterSpec, 'ha'>,
  role: string,
): Pick<HostSpec, 'packages' | 'services'> {
  if (spec.ha.mode !== 'haproxy-keepalived' || role !== 'control-plane')
    return { packages: [], services: [] };
  return {
    packages: [
      { name: 'haproxy', hold: false },
      { name: 'keepalived', hold: false },
    ],
    services: [
      { unit: 'haproxy.service', start: true },
      { unit: 'keepalived.service', start: true },
    ],
  };
}
