import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHost } from '../host/local-host.js';
import { Ops } from '../../proto/ops.js';
import { makePreflightOps } from './preflight-ops.js';

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('preflight.run', () => {
  it('returns results the controller accepts, with the duration and the ignore list applied', async () => {
    root = await mkdtemp(join(tmpdir(), 'kctl-preflight-op-'));
    const files = { '/proc/sys/kernel/hostname': 'w-1\n', '/proc/sys/net/ipv4/ip_forward': '0\n' };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    const ops = makePreflightOps({ env: {}, resolveName: () => Promise.resolve(false) });
    const value = await ops['preflight.run'].run(
      {
        spec: {
          role: 'worker',
          kubernetesVersion: 'v1.34.0',
          isFirstControlPlane: false,
          kubeProxyMode: 'iptables',
          ignore: ['FileContent--proc-sys-net-ipv4-ip_forward'],
        },
      },
      {
        host: new LocalHost({ root, programPath: [join(root, 'bin')] }),
        hostId: 'h-1',
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        progress: () => {},
      },
    );
    const parsed = Ops['preflight.run'].result.parse(value);
    expect(parsed.durationMs).toBeGreaterThan(0);
    expect(parsed.results.find((r) => r.id === 'FileContent--proc-sys-net-ipv4-ip_forward')).toMatchObject({
      status: 'warn',
      ignored: true,
    });
    expect(parsed.results.find((r) => r.id === 'CRI')?.status).toBe('fail');
  });
});
