import { isIP } from 'node:net';
import { KctlError } from '../../proto/errors.js';

export const HAPROXY_CONFIG_PATH = '/etc/haproxy/haproxy.cfg';
/** kubeadm's default API server port: behind HAProxy on the same host the frontend takes another one. */
export const API_SERVER_BACKEND_PORT = 6443;

export interface HaproxyBackend {
  /** the control plane's host name, HAProxy's server name */
  name: string;
  /** its advertise address */
  address: string;
}

export interface HaproxyInput {
  /** controlPlaneEndpoint.port: what clients dial on the VIP */
  frontendPort: number;
  /** the VIP's family decides the bind line (IPv4 only, or IPv6 and IPv4) */
  vip: string;
  /** every control plane, in cluster.yaml's order */
  backends: readonly HaproxyBackend[];
  /** the port each API server listens on (6443) */
  backendPort?: number;
  /**
   * `control-planes` (default): HAProxy shares each host with an API server and binds every
   * address. `dedicated` (lb hosts): it binds the VIP itself (the hosts need ip_nonlocal_bind to
   * start while another holds it) and 127.0.0.1 for keepalived's track script; nothing else of the
   * host is exposed, and the endpoint port may be 6443.
   */
  placement?: 'control-planes' | 'dedicated';
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new KctlError('invalid_spec', `The HAProxy ${what} port ${port} is not a TCP port`);
}

/**
 * haproxy.cfg for the API servers, after kubeadm's HA guide (ha-considerations.md): a TCP frontend
 * and a round-robin backend whose servers are checked over TLS on /readyz (any certificate: the
 * check asks readiness, clients verify the API server themselves). On the control planes the
 * frontend binds every address rather than the VIP, so the backups need no ip_nonlocal_bind, and
 * the API server (on 6443, all addresses) and HAProxy (on the endpoint port) share each host.
 * On dedicated lb hosts it binds the VIP (see `placement`).
 */
export function renderHaproxyConfig(input: HaproxyInput): string {
  const backendPort = input.backendPort ?? API_SERVER_BACKEND_PORT;
  checkPort(input.frontendPort, 'frontend');
  checkPort(backendPort, 'backend');
  const dedicated = input.placement === 'dedicated';
  if (!dedicated && input.frontendPort === backendPort)
    throw new KctlError(
      'invalid_spec',
      `HAProxy cannot listen on ${input.frontendPort}: the API servers on the same hosts listen there; use another controlPlaneEndpoint.port such as 8443`,
    );
  const family = isIP(input.vip);
  if (family === 0)
    throw new KctlError('invalid_spec', `The HAProxy VIP "${input.vip}" is not an IP address`);
  if (input.backends.length === 0)
    throw new KctlError('invalid_spec', 'HAProxy needs at least one control plane to forward to');
  const servers = input.backends.map((b) => {
    if (isIP(b.address) === 0)
      throw new KctlError(
        'invalid_spec',
        `Control plane "${b.name}" has no advertise address for HAProxy's backend ("${b.address}")`,
        { details: { remedy: 'give hosts[].address for it in cluster.yaml' } },
      );
    return `    server ${b.name} ${b.address}:${backendPort}`;
  });
  const bind = dedicated
    ? `${input.vip}:${input.frontendPort}\n    bind 127.0.0.1:${input.frontendPort}`
    : family === 4
      ? `*:${input.frontendPort}`
      : `:::${input.frontendPort} v4v6`;
  return `# Written by kctl (ha.mode: haproxy-keepalived); changes are overwritten.
global
    log /dev/log local0
    chroot /var/lib/haproxy
    user haproxy
    group haproxy
    daemon

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    option redispatch
    retries 1
    timeout connect 5s
    timeout client 35s
    timeout server 35s
    timeout check 5s

frontend kube-apiserver
    bind ${bind}
    mode tcp
    option tcplog
    default_backend kube-apiserver

backend kube-apiserver
    mode tcp
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 check check-ssl verify none
${servers.join('\n')}
`;
}
