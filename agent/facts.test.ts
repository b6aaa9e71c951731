import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostFacts } from '../proto/facts.js';
import { LocalHost } from './host/local-host.js';
import { gatherFacts } from './facts.js';

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function rootWith(
  files: Record<string, string>,
  programs: Record<string, string> = {},
): Promise<LocalHost> {
  const root = await mkdtemp(join(tmpdir(), 'kctl-facts-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const bin = join(root, 'bin');
  await mkdir(bin);
  for (const [name, script] of Object.entries(programs)) {
    await writeFile(join(bin, name), `#!/bin/sh\n${script}\n`);
    await chmod(join(bin, name), 0o755);
  }
  return new LocalHost({ root, programPath: [bin] });
}

const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.0.0.0/24 2 0 2
        |-- 10.0.0.11
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
`;

const FILES: Record<string, string> = {
  '/proc/sys/kernel/hostname': 'cp-1\n',
  '/etc/machine-id': '0123456789abcdef0123456789abcdef\n',
  '/sys/class/dmi/id/product_uuid': '4C4C4544-0042-3510-8052-B4C04F384833\n',
  '/sys/class/net/lo/address': '00:00:00:00:00:00\n',
  '/sys/class/net/eth0/address': '52:54:00:12:34:56\n',
  '/sys/class/net/eth1/address': '52:54:00:AB:CD:EF\n',
  '/sys/class/net/veth1234/address': 'aa:bb:cc:dd:ee:ff\n',
  '/sys/class/net/dummy0/address': '00:00:00:00:00:00\n',
  '/proc/net/fib_trie': FIB_TRIE,
  '/proc/net/if_inet6':
    '20010db8000000000000000000000011 02 40 00 80     eth0\nfe80000000000000505400fffe123456 02 40 20 80     eth0\n',
  '/etc/os-release': 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nVERSION_ID="24.04"\n',
  '/proc/sys/kernel/osrelease': '6.8.0-45-generic\n',
  '/sys/devices/system/cpu/online': '0-3\n',
  '/proc/meminfo': 'MemTotal:        8131292 kB\n',
  '/proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n',
};

describe('gatherFacts', () => {
  it('reads every fact from files under the host root', async () => {
    const host = await rootWith(FILES, { kubelet: 'echo "Kubernetes v1.33.2"' });
    const facts = await gatherFacts(host, { arch: 'x64' });
    expect(facts).toEqual({
      hostname: 'cp-1',
      machineId: '0123456789abcdef0123456789abcdef',
      productUuid: '4c4c4544-0042-3510-8052-b4c04f384833',
      macs: ['52:54:00:12:34:56', '52:54:00:ab:cd:ef'],
      ips: ['10.0.0.11', '2001:db8::11'],
      os: { id: 'ubuntu', versionId: '24.04', prettyName: 'Ubuntu 24.04.1 LTS' },
      kernel: '6.8.0-45-generic',
      arch: 'amd64',
      cpus: 4,
      memoryBytes: 8131292 * 1024,
      cgroupVersion: 2,
      kubeletVersion: 'v1.33.2',
    });
    expect(HostFacts.safeParse(facts).success).toBe(true);
  });

  it('leaves out what a bare root does not have: product_uuid empty, no kubelet, no cgroups', async () => {
    const host = await rootWith({
      '/proc/sys/kernel/hostname': 'bare\n',
      '/proc/cpuinfo': 'processor\t: 0\n',
    });
    const facts = await gatherFacts(host);
    expect(facts).toMatchObject({
      hostname: 'bare',
      productUuid: '',
      macs: [],
      ips: [],
      cpus: 1,
      cgroupVersion: 0,
    });
    expect(facts.kubeletVersion).toBeUndefined();
    expect(HostFacts.safeParse(facts).success).toBe(true);
  });

  it('ignores a kubelet that fails', async () => {
    const host = await rootWith(FILES, { kubelet: 'exit 1' });
    expect((await gatherFacts(host)).kubeletVersion).toBeUndefined();
  });

  it('takes IPs from the given interface list instead of /proc/net', async () => {
    const host = await rootWith(FILES);
    const facts = await gatherFacts(host, {
      networkInterfaces: () => ({ ens3: [{ address: '192.0.2.7', family: 'IPv4', internal: false }] }),
    });
    expect(facts.ips).toEqual(['192.0.2.7']);
  });
});
