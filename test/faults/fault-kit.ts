import { createServer, connect, type Server, type Socket } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A seeded PRNG (mulberry32), so a failing fault trial can be replayed: the seed comes from
 * KCTL_FAULT_SEED when set, else from the clock, and the test prints it.
 */
export function faultSeed(): number {
  const fromEnv = process.env.KCTL_FAULT_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new Error(`KCTL_FAULT_SEED must be an integer in [0, 2^32), got "${fromEnv}"`);
    return n;
  }
  return (Date.now() % 0x100000000) >>> 0;
}

export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  /** integer uniform in [min, max] */
  int(min: number, max: number): number;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/**
 * A TCP proxy on loopback that makes two kinds of partition:
 * - `down()`/`up()`: listener closed and live connections destroyed, so reconnects are refused
 *   (a host whose link is down, or a controller port that answers RST);
 * - `blackhole()`/`heal()`: everything stays open but no byte passes either way, a close on one
 *   side is not passed on, and new connections are accepted and then hang (a silent drop: a cut
 *   cable beyond a switch, a firewall that drops). Only heartbeats can tell.
 */
export class PartitionProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private holed = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      this.sockets.add(client);
      if (this.holed) {
        // accepted, never answered: the TLS handshake hangs until the agent gives up
        client.pause();
        client.on('error', () => this.sockets.delete(client)).on('close', () => this.sockets.delete(client));
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = (): void => {
        this.sockets.delete(client);
        this.sockets.delete(upstream);
        // in a black hole a FIN or RST from one side never reaches the other
        if (this.holed) return;
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stop every byte both ways on live connections, and hang new ones. */
  blackhole(): void {
    this.holed = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /** Connections made from now on pass again; what was held in the hole is gone, as it would be after the peers timed out. */
  heal(): void {
    this.holed = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

/** Every file under `root` whose name marks an interrupted atomic write (`.<name>.kctl-tmp-<hex>`). */
export async function findTempFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.includes('.kctl-tmp-')) found.push(p);
    }
  };
  await walk(root);
  return found.sort();
}
