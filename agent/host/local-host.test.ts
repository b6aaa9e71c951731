import { afterEach, describe, expect, it } from 'vitest';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempHost, TEST_BIN, type TempHost } from '../../test/fixtures/temp-host.js';
import { pino } from 'pino';
import { LocalHost, outputTail } from './local-host.js';

const isRoot = process.getuid?.() === 0;
let t: TempHost | undefined;
const outside: string[] = [];
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
  for (const dir of outside.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function outsideDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kctl-outside-'));
  await chmod(dir, 0o755);
  outside.push(dir);
  return dir;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('LocalHost files', () => {
  it('maps host paths under its root for reads, stats and listings', async () => {
    t = await tempHost({ files: { '/etc/os-release': 'ID=debian\n', '/etc/hostname': 'cp-1\n' } });
    expect(await t.host.readFile('/etc/os-release')).toBe('ID=debian\n');
    expect(await t.host.readFile('/etc/missing')).toBeUndefined();
    expect(await t.host.stat('/etc/hostname')).toMatchObject({ isFile: true, size: 5 });
    expect(await t.host.listDir('/etc')).toEqual(['hostname', 'os-release']);
    expect(await t.host.listDir('/nope')).toEqual([]);
  });

  it.each([
    ['a relative path', 'etc/kubernetes/x'],
    ['a ".." segment', '/etc/kubernetes/../../../tmp/x'],
    ['a NUL byte', '/etc/kubernetes/a\0b'],
    ['a path outside the allow-list', '/etc/passwd'],
  ])('refuses to write %s', async (_what, path) => {
    t = await tempHost();
    await expect(t.host.writeFileAtomic(path, 'x')).rejects.toMatchObject({ code: 'path_not_allowed' });
  });

  it('refuses to write through a parent directory that is a symlink pointing outside the root', async () => {
    t = await tempHost();
    const elsewhere = await outsideDir();
    await mkdir(join(t.root, 'etc'), { recursive: true });
    await symlink(elsewhere, join(t.root, 'etc/kubernetes'));
    await expect(t.host.writeFileAtomic('/etc/kubernetes/admin.conf', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    // and mkdir -p was not allowed to create directories out there either
    await expect(t.host.writeFileAtomic('/etc/kubernetes/manifests/a.yaml', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('refuses a symlinked parent that stays inside the root but leaves the allow-list', async () => {
    t = await tempHost({ files: { '/etc/shadow-dir/keep': '' } });
    await symlink(join(t.root, 'etc/shadow-dir'), join(t.root, 'etc/sysctl.d'));
    await expect(t.host.writeFileAtomic('/etc/sysctl.d/99-kctl.conf', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readdir(join(t.root, 'etc/shadow-dir'))).toEqual(['keep']);
  });

  it('refuses to write over a symlink (O_NOFOLLOW on the last component)', async () => {
    t = await tempHost({ files: { '/etc/passwd': 'root:x:0:0\n' } });
    await mkdir(join(t.root, 'etc/kubernetes'), { recursive: true });
    await symlink(join(t.root, 'etc/passwd'), join(t.root, 'etc/kubernetes/admin.conf'));
    await expect(t.host.writeFileAtomic('/etc/kubernetes/admin.conf', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readFile(join(t.root, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
  });

  it.skipIf(!isRoot)(
    'refuses, when running as root, a parent directory others can write (needs root)',
    async () => {
      t = await tempHost();
      await mkdir(join(t.root, 'etc/containerd'), { recursive: true });
      await chmod(join(t.root, 'etc/containerd'), 0o777);
      await expect(t.host.writeFileAtomic('/etc/containerd/config.toml', 'x')).rejects.toThrow(
        /writable by a user other than root/,
      );
    },
  );

  it('creates a new file with mode 0644 by default, and missing directories under an allowed one', async () => {
    t = await tempHost();
    const report = await t.host.writeFileAtomic('/etc/kubernetes/manifests/kube-vip.yaml', 'a: 1\n');
    expect(report).toEqual({ path: '/etc/kubernetes/manifests/kube-vip.yaml', changed: true });
    const s = await stat(join(t.root, 'etc/kubernetes/manifests/kube-vip.yaml'));
    expect(s.mode & 0o7777).toBe(0o644);
  });

  it.skipIf(!isRoot)(
    'replaces a file keeping its mode and owner, and backs up the old content by its sha256 (needs root to chown)',
    async () => {
      t = await tempHost({ files: { '/etc/containerd/config.toml': 'version = 2\n' } });
      const real = join(t.root, 'etc/containerd/config.toml');
      await chmod(real, 0o640);
      await chown(real, 1234, 2345);
      const report = await t.host.writeFileAtomic('/etc/containerd/config.toml', 'version = 3\n');
      const backup = `/var/lib/kctl-agent/backups/${sha256('version = 2\n')}`;
      expect(report).toEqual({ path: '/etc/containerd/config.toml', changed: true, backupPath: backup });
      const s = await stat(real);
      expect([s.mode & 0o7777, s.uid, s.gid]).toEqual([0o640, 1234, 2345]);
      expect(await readFile(real, 'utf8')).toBe('version = 3\n');
      expect(await readFile(join(t.root, backup), 'utf8')).toBe('version = 2\n');
      expect((await stat(join(t.root, backup))).mode & 0o777).toBe(0o600);
      // no temp file left next to the target
      expect(await readdir(join(t.root, 'etc/containerd'))).toEqual(['config.toml']);
    },
  );

  it('names the file being written when its old content cannot be backed up, and leaves it as it was', async () => {
    // the backups directory is a plain file here, so no backup can be written under it
    t = await tempHost({
      files: { '/etc/containerd/config.toml': 'version = 2\n', '/var/lib/kctl-agent/backups': 'not a dir' },
    });
    const err = await t.host
      .writeFileAtomic('/etc/containerd/config.toml', 'version = 3\n')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'io_error' });
    expect((err as Error).message).toMatch(
      /^Cannot write "\/etc\/containerd\/config.toml": its old content could not be backed up: /,
    );
    expect(await readFile(join(t.root, 'etc/containerd/config.toml'), 'utf8')).toBe('version = 2\n');
  });

  it('sets mode and owner when asked, and reports an identical write as unchanged', async () => {
    t = await tempHost({ files: { '/etc/kubernetes/pki/ca.key': 'k' } });
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const first = await t.host.writeFileAtomic('/etc/kubernetes/pki/ca.key', 'key', {
      mode: 0o600,
      uid,
      gid,
    });
    expect(first.changed).toBe(true);
    expect((await stat(join(t.root, 'etc/kubernetes/pki/ca.key'))).mode & 0o7777).toBe(0o600);
    const again = await t.host.writeFileAtomic('/etc/kubernetes/pki/ca.key', 'key', { mode: 0o600 });
    expect(again).toEqual({ path: '/etc/kubernetes/pki/ca.key', changed: false });
  });

  it('writes an allowed single file such as /etc/fstab, but nothing next to it', async () => {
    t = await tempHost({ files: { '/etc/fstab': '# empty\n' } });
    await t.host.writeFileAtomic('/etc/fstab', '# kctl\n');
    expect(await readFile(join(t.root, 'etc/fstab'), 'utf8')).toBe('# kctl\n');
    await expect(t.host.writeFileAtomic('/etc/fstab.bak', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
  });

  it('removes leftover temp files of interrupted writes in the allowed directories only', async () => {
    t = await tempHost({
      files: {
        '/etc/kubernetes/manifests/.etcd.yaml.kctl-tmp-0a1b2c': 'half',
        '/etc/kubernetes/manifests/etcd.yaml': 'whole',
        '/etc/.fstab.kctl-tmp-abcdef': 'half',
        '/home/user/.x.kctl-tmp-abcdef': 'not ours to sweep',
      },
    });
    expect(await t.host.removeStaleTempFiles()).toEqual([
      '/etc/.fstab.kctl-tmp-abcdef',
      '/etc/kubernetes/manifests/.etcd.yaml.kctl-tmp-0a1b2c',
    ]);
    expect(await readdir(join(t.root, 'etc/kubernetes/manifests'))).toEqual(['etcd.yaml']);
    expect(await readdir(join(t.root, 'home/user'))).toEqual(['.x.kctl-tmp-abcdef']);
  });

  it('removes only allow-listed files', async () => {
    t = await tempHost({ files: { '/etc/kubernetes/admin.conf': 'x', '/etc/passwd': 'root' } });
    expect(await t.host.removeFile('/etc/kubernetes/admin.conf')).toBe(true);
    expect(await t.host.removeFile('/etc/kubernetes/admin.conf')).toBe(false);
    await expect(t.host.removeFile('/etc/passwd')).rejects.toMatchObject({ code: 'path_not_allowed' });
  });
});

describe('LocalHost sysctls', () => {
  it('reads and writes /proc/sys under the root', async () => {
    t = await tempHost({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n' } });
    expect(await t.host.readSysctl('net.ipv4.ip_forward')).toBe('0');
    await t.host.writeSysctl('net.ipv4.ip_forward', '1');
    expect(await readFile(join(t.root, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('1\n');
    expect(await t.host.readSysctl('net.bridge.bridge-nf-call-iptables')).toBeUndefined();
  });

  it.each([
    ['a key with a slash', 'net/ipv4/../../x', '1'],
    ['a key with ..', 'net..ipv4', '1'],
    ['a value with a newline', 'net.ipv4.ip_forward', '1\nkernel.x = 1'],
  ])('refuses %s', async (_what, key, value) => {
    t = await tempHost({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n' } });
    await expect(t.host.writeSysctl(key, value)).rejects.toMatchObject({ code: 'invalid_args' });
  });

  it('fails to write a sysctl the kernel does not have, naming it', async () => {
    t = await tempHost();
    await expect(t.host.writeSysctl('net.bridge.bridge-nf-call-iptables', '1')).rejects.toThrow(
      /net\.bridge\.bridge-nf-call-iptables/,
    );
  });
});

describe('LocalHost programs', () => {
  it('passes arguments verbatim, without a shell, and records each call', async () => {
    t = await tempHost({ programs: { modprobe: { stdout: 'ok\n' } } });
    const args = ['--', '$(id)', '*', 'a b', `it's`, 'x"y\\z', ''];
    const r = await t.host.run('modprobe', args);
    expect(r).toEqual({ exitCode: 0, stdout: 'ok\n', stderr: '' });
    expect(await t.calls()).toEqual([{ program: 'modprobe', args }]);
  });

  it('runs with a fixed environment that the caller cannot change (S15)', async () => {
    t = await tempHost({ realPrograms: true });
    const r = await t.host.run('env', [], { env: { PATH: '/tmp/evil', EXTRA: '1' } });
    const vars = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    );
    expect(vars).toEqual({
      EXTRA: '1',
      PATH: `${join(t.root, TEST_BIN)}:/usr/sbin:/usr/bin:/sbin:/bin`,
      LC_ALL: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      KCTL_HOST_ROOT: t.root,
    });
  });

  it('fails with the program, exit code and a scrubbed stderr tail', async () => {
    t = await tempHost({
      programs: {
        kubeadm: {
          exitCode: 3,
          stderr: 'line 1\nerror: token abcdef.0123456789abcdef rejected\n',
        },
      },
    });
    const err: unknown = await t.host
      .run('kubeadm', ['join', '--token', 'abcdef.0123456789abcdef', '--certificate-key', 'f'.repeat(64)])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'program_failed', details: { program: 'kubeadm', exitCode: 3 } });
    const message = (err as Error).message;
    expect(message).toContain('kubeadm join --token [redacted]');
    expect(message).toContain('exited with 3');
    expect(message).toContain('error: token [redacted token] rejected');
    expect(message).not.toContain('abcdef.0123456789abcdef');
    expect(message).not.toContain('f'.repeat(64));
  });

  it('returns a non-zero exit instead of throwing when failure is allowed', async () => {
    t = await tempHost({ programs: { systemctl: { exitCode: 3, stdout: 'inactive\n' } } });
    expect(await t.host.run('systemctl', ['is-active', 'kubelet'], { allowFailure: true })).toEqual({
      exitCode: 3,
      stdout: 'inactive\n',
      stderr: '',
    });
  });

  it('stops a program at its timeout', async () => {
    t = await tempHost({ programs: { slow: { script: 'sleep 5' } } });
    await expect(t.host.run('slow', [], { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'timeout',
      retryable: true,
    });
  });

  it('fails when the output exceeds the buffer limit', async () => {
    t = await tempHost({ programs: { chatty: { stdout: 'x'.repeat(4096) } } });
    await expect(t.host.run('chatty', [], { maxBufferBytes: 1024 })).rejects.toThrow(/exceeded 1024 bytes/);
  });

  it.each([
    ['a relative path', './modprobe', 'invalid_args'],
    ['a path into another directory', 'sbin/modprobe', 'invalid_args'],
    ['an absolute path outside the program path', '/usr/bin/env', 'program_failed'],
    ['a program that is not there', 'no-such-program', 'program_failed'],
  ])('refuses %s', async (_what, program, code) => {
    t = await tempHost({ programs: { modprobe: {} } });
    await expect(t.host.run(program, [])).rejects.toMatchObject({ code });
    expect(await t.calls()).toEqual([]);
  });

  it('runs an absolute path that lies in the program path', async () => {
    t = await tempHost({ programs: { modprobe: {} } });
    expect(await t.host.which('/usr/bin/env')).toBeUndefined();
    await t.host.run(join(t.root, TEST_BIN, 'modprobe'), ['br_netfilter']);
    expect(await t.calls()).toEqual([{ program: 'modprobe', args: ['br_netfilter'] }]);
  });

  it('keeps only the scrubbed last lines of output for messages', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    expect(outputTail(`${lines}\n--token abc`, 3)).toBe('line 18\nline 19\n--token [redacted]');
  });
});

describe('LocalHost ports and identity', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  it('can bind a free port and cannot bind one that is listening', async () => {
    const host = new LocalHost();
    server = createServer();
    await new Promise<void>((r) => server?.listen({ port: 0, host: '0.0.0.0' }, r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    expect(await host.canBind(port)).toBe(false);
    await new Promise((r) => server?.close(r));
    server = undefined;
    expect(await host.canBind(port)).toBe(true);
  });

  it('logs program runs and writes at debug level with secrets scrubbed', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) });
    t = await tempHost({ programs: { kubeadm: {} }, logger });
    await t.host.run('kubeadm', ['join', '--token', 'abcdef.0123456789abcdef', '--certificate-key', 'plain']);
    await t.host.writeFileAtomic('/etc/kubernetes/kubelet.conf', 'x');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).toEqual(['program run', 'file written']);
    expect(records[0]).toMatchObject({
      args: ['join', '--token', '[redacted]', '--certificate-key', '[redacted]'],
      exitCode: 0,
    });
    expect(lines.join('')).not.toContain('abcdef.0123456789abcdef');
  });

  it('reports the uid of the agent process', () => {
    expect(new LocalHost().uid()).toBe(process.getuid?.());
  });

  it('refuses a relative root', () => {
    expect(() => new LocalHost({ root: 'tmp/x' })).toThrow(/must be absolute/);
  });
});
