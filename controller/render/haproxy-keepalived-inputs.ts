/**
 * cluster.yaml (ha.mode: haproxy-keepalived) onto the HAProxy and keepalived renderers' inputs,
 * and the files, packages and services a control plane, or a dedicated lb host, gets for them.
 */
import { isIP } from 'node:net';
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

/**
 * A control plane (HAProxy's backend) or a host running keepalived, as the load balancer sees it:
 * `HostAssignment` and `LbHostAssignment` from controller/spec/resolve.ts fit.
 */
export interface LbControlPlane {
  name: string;
  address: string | undefined;
}

type HaproxyKeepalived = Extract<ClusterSpec['ha'], { mode: 'haproxy-keepalived' }>;

function addressOf(cp: LbControlPlane): string {
  if (cp.address === undefined)
    throw new KctlError(
      'invalid_spec',
      `Host "${cp.name}" has no address for HAProxy's backend or keepalived's peers`,
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
  if (spec.ha.mode !== 'haproxy-keepalived' || host.role !== 'control-plane') return [];
  return loadBalancerFiles(spec, host.name, { balancers: controlPlanes, controlPlanes });
}

/**
 * The three files of one host that runs HAProxy and keepalived: a control plane (`balancers` are
 * the control planes) or a dedicated lb host (`balancers` are the lb hosts, HAProxy binds the
 * VIP). The backends are every control plane either way; keepalived's peers and priorities come
 * from the balancers' order.
 */
export function loadBalancerFiles(
  spec: Pick<ClusterSpec, 'ha' | 'controlPlaneEndpoint'>,
  hostName: string,
  options: {
    balancers: readonly LbControlPlane[];
    controlPlanes: readonly LbControlPlane[];
    placement?: 'control-planes' | 'dedicated';
  },
): HostFile[] {
  const ha = spec.ha;
  if (ha.mode !== 'haproxy-keepalived') return [];
  const { balancers, controlPlanes } = options;
  const index = balancers.findIndex((c) => c.name === hostName);
  if (balancers[index] === undefined)
    throw new KctlError('internal', `Host "${hostName}" is not among the load balancer hosts`);
  const port = spec.controlPlaneEndpoint.port;
  const haproxy = renderHaproxyConfig({
    frontendPort: port,
    vip: ha.vip,
    backends: controlPlanes.map((c) => ({ name: c.name, address: addressOf(c) })),
    backendPort: API_SERVER_BACKEND_PORT,
    placement: options.placement ?? 'control-planes',
  });
  const keepalived = renderKeepalivedConfig(keepalivedInput(ha, port, balancers, index));
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

/**
 * The sysctl a dedicated lb host needs: HAProxy binds the VIP there, and on a backup (the VIP is
 * on another host) the bind fails without it, so HAProxy would not start.
 */
export function nonlocalBindSysctl(vip: string): Record<string, string> {
  return isIP(vip) === 6 ? { 'net.ipv6.ip_nonlocal_bind': '1' } : { 'net.ipv4.ip_nonlocal_bind': '1' };
}

function keepalivedInput(
  ha: HaproxyKeepalived,
  haproxyPort: number,
  balancers: readonly LbControlPlane[],
  index: number,
): Parameters<typeof renderKeepalivedConfig>[0] {
  const self = balancers[index];
  if (self === undefined) throw new KctlError('internal', `No load balancer host at index ${index}`);
  return {
    hostName: self.name,
    interface: ha.interface,
    vip: ha.vip,
    virtualRouterId: ha.virtualRouterId,
    address: addressOf(self),
    peers: balancers.filter((_, i) => i !== index).map(addressOf),
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
  /** true when cluster.yaml has lb hosts: they run HAProxy and keepalived, the control planes do not */
  dedicated = false,
): Pick<HostSpec, 'packages' | 'services'> {
  const runsHere = dedicated ? role === 'lb' : role === 'control-plane';
  if (spec.ha.mode !== 'haproxy-keepalived' || !runsHere) return { packages: [], services: [] };
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
