import { mkdtemp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NSPAWN_ENV, hostRootPaths, newMachineId, nspawnArgs, writeHostIdentity } from './host-root.js';

describe('host root', () => {
  it.each([
    ['overlay', '/lab/hosts/lab-1/merged'],
    ['copy', '/lab/hosts/lab-1/root'],
  ] as const)('with %s storage the host boots from %s', (storage, root) => {
    expect(hostRootPaths('/lab', 'lab-1', storage).root).toBe(root);
  });

  it('machine ids are 32 hex digits and differ', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newMachineId()));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('systemd-nspawn boots the host in its namespace, without machined, with the added capabilities', () => {
    const args = nspawnArgs({
      name: 'lab-1',
      root: '/r',
      netnsPath: '/run/netns/kctl-lab-1',
      capabilities: ['CAP_NET_ADMIN'],
    });
    expect(args).toEqual(
      expect.arrayContaining([
        '--boot',
        '--keep-unit',
        '--register=no',
        '--machine=lab-1',
        '--directory=/r',
        '--network-namespace-path=/run/netns/kctl-lab-1',
        '--capability=CAP_NET_ADMIN',
      ]),
    );
    expect(args.some((a) => a.startsWith('--private-users'))).toBe(false);
    expect(args.some((a) => a.startsWith('--bind'))).toBe(false);
  });

  it("nspawn makes the host's own /proc/sys/net writable (net.ipv4.ip_forward for kubeadm), nothing else", () => {
    expect(NSPAWN_ENV).toEqual({ SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' });
  });

  it('binds directories of this machine into the host, read-only when asked, absolute paths only', () => {
    const base = { name: 'lab-1', root: '/r', netnsPath: '/run/netns/kctl-lab-1', capabilities: [] };
    const args = nspawnArgs({
      ...base,
      binds: [
        { source: '/var/tmp/shared', target: '/var/lib/shared' },
        { source: '/srv/ro', target: '/srv/ro', readOnly: true },
      ],
    });
    expect(args.slice(-2)).toEqual(['--bind=/var/tmp/shared:/var/lib/shared', '--bind-ro=/srv/ro:/srv/ro']);
    expect(() => nspawnArgs({ ...base, binds: [{ source: 'rel', target: '/x' }] })).toThrow(/absolute/);
    expect(() => nspawnArgs({ ...base, binds: [{ source: '/a:b', target: '/x' }] })).toThrow(/':'/);
  });
});

describe('host identity files', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'kctl-host-root-'));
    await mkdir(join(root, 'etc'), { recursive: true });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('hostname, machine-id and the NoCloud seed are written, the seed readable by root only', async () => {
    await writeHostIdentity(
      root,
      { name: 'lab-2', machineId: '0123456789abcdef0123456789abcdef' },
      { userData: '#cloud-config\n', metaData: 'instance-id: x\n', networkConfig: 'version: 2\n' },
    );
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('lab-2\n');
    expect(await readFile(join(root, 'etc/resolv.conf'), 'utf8')).toMatch(/^nameserver 127\.0\.0\.1$/m);
    expect(await readFile(join(root, 'etc/machine-id'), 'utf8')).toBe('0123456789abcdef0123456789abcdef\n');
    expect(await readFile(join(root, 'etc/hosts'), 'utf8')).toContain('127.0.1.1\tlab-2');
    const seed = join(root, 'var/lib/cloud/seed/nocloud');
    expect((await stat(seed)).mode & 0o777).toBe(0o700);
    for (const f of ['user-data', 'meta-data', 'network-config']) {
      expect((await stat(join(seed, f))).mode & 0o777).toBe(0o600);
    }
    expect(await readFile(join(seed, 'meta-data'), 'utf8')).toBe('instance-id: x\n');
  });
});
