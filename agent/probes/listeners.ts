import type { Host } from '../host/host.js';

export interface Listener {
  family: 4 | 6;
  address: string;
  port: number;
}

const LISTEN_STATE = '0A';

/** LISTEN sockets in /proc/net/tcp or /proc/net/tcp6 (addresses are little-endian hex words). */
export function parseProcNetTcp(text: string, family: 4 | 6): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (!local || state !== LISTEN_STATE) continue;
    const [hexAddress = '', hexPort = ''] = local.split(':');
    const port = parseInt(hexPort, 16);
    if (Number.isNaN(port)) continue;
    listeners.push({
      family,
      address: family === 4 ? ipv4FromHex(hexAddress) : ipv6FromHex(hexAddress),
      port,
    });
  }
  return listeners;
}

function ipv4FromHex(hex: string): string {
  const bytes = (hex.match(/../g) ?? []).map((b) => parseInt(b, 16)).reverse();
  return bytes.join('.');
}

function ipv6FromHex(hex: string): string {
  // four 32-bit words, each in host (little-endian) byte order
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse());
  const groups = (bytes.join('').match(/.{4}/g) ?? []).join(':');
  return new URL(`http://[${groups}]/`).hostname.slice(1, -1);
}

export async function readListeners(host: Host): Promise<Listener[]> {
  const [tcp, tcp6] = await Promise.all([host.readFile('/proc/net/tcp'), host.readFile('/proc/net/tcp6')]);
  return [...parseProcNetTcp(tcp ?? '', 4), ...parseProcNetTcp(tcp6 ?? '', 6)];
}
