import { isIP } from 'node:net';
import { KctlError } from '../../proto/errors.js';

export const KEEPALIVED_CONFIG_PATH = '/etc/keepalived/keepalived.conf';
export const HAPROXY_CHECK_SCRIPT_PATH = '/etc/keepalived/check-haproxy.sh';
/** The first control plane's VRRP priority; each next one is one lower (255 is for an address owner). */
export const TOP_PRIORITY = 200;

export interface KeepalivedInput {
  /** the host this file is for, keepalived's router_id */
  hostName: string;
  interface: string;
  vip: string;
  virtualRouterId: number;
  /** this host's advertise address: VRRP adverts go from it */
  address: string;
  /** the other control planes' addresses: adverts go to each (unicast, no multicast needed) */
  peers: readonly string[];
  /** 0 for the first control plane in cluster.yaml's order, 1 for the next, ... */
  index: number;
  /** the HAProxy frontend port the track script connects to */
  haproxyPort: number;
}

export function keepalivedPriority(index: number): number {
  return Math.max(1, TOP_PRIORITY - index);
}

function needIp(value: string, what: string): void {
  if (isIP(value) === 0)
    throw new KctlError('invalid_spec', `The keepalived ${what} "${value}" is not an IP address`);
}

/**
 * keepalived.conf: one VRRP instance holding the VIP, adverts by unicast to the other control
 * planes, priorities by host order, and a track script on HAProxy so a host whose HAProxy is down
 * gives the VIP up. Every instance starts as BACKUP and the highest priority alive holds the VIP
 * (preemption, keepalived's default): which host holds it is always known from the host order, at
 * the cost of a second, short move when a higher one comes back. No VRRP authentication: RFC 3768
 * removed it; unicast peers limit who is heard.
 */
export function renderKeepalivedConfig(input: KeepalivedInput): string {
  needIp(input.vip, 'VIP');
  needIp(input.address, `address of "${input.hostName}"`);
  for (const p of input.peers) needIp(p, 'peer address');
  if (!Number.isInteger(input.virtualRouterId) || input.virtualRouterId < 1 || input.virtualRouterId > 255)
    throw new KctlError('invalid_spec', `The VRRP router id ${input.virtualRouterId} is not in 1-255`);
  const prefix = isIP(input.vip) === 4 ? 32 : 128;
  const peers =
    input.peers.length === 0
      ? ['        # no other control plane yet']
      : input.peers.map((p) => `        ${p}`);
  return `# Written by kctl (ha.mode: haproxy-keepalived); changes are overwritten.
global_defs {
    router_id ${input.hostName}
    enable_script_security
    script_user root
}

vrrp_script check_haproxy {
    script "${HAPROXY_CHECK_SCRIPT_PATH}"
    interval 1
    timeout 2
    fall 2
    rise 2
}

vrrp_instance kube-apiserver {
    state BACKUP
    interface ${input.interface}
    virtual_router_id ${input.virtualRouterId}
    priority ${keepalivedPriority(input.index)}
    advert_int 1
    # the second round of gratuitous ARPs after 1 s, not 5: a neighbour that ignored the first
    # (Linux locktime: 1 s) learns the new holder in about a second
    garp_master_delay 1
    unicast_src_ip ${input.address}
    unicast_peer {
${peers.join('\n')}
    }
    virtual_ipaddress {
        ${input.vip}/${prefix} dev ${input.interface}
    }
    track_script {
        check_haproxy
    }
}
`;
}

/** The track script: healthy while this host's HAProxy accepts connections on its frontend. */
export function renderHaproxyCheckScript(haproxyPort: number): string {
  if (!Number.isInteger(haproxyPort) || haproxyPort < 1 || haproxyPort > 65535)
    throw new KctlError('invalid_spec', `The HAProxy port ${haproxyPort} is not a TCP port`);
  return `#!/bin/bash
# Written by kctl: keepalived's track script for HAProxy (connects to its frontend, sends nothing).
exec 3<>/dev/tcp/127.0.0.1/${haproxyPort}
`;
}
