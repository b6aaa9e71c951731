import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HostFacts } from '../proto/facts.js';
import { AgentFrame } from '../proto/wire.js';
import { LocalHost } from './host/local-host.js';
import { gatherFacts } from './facts.js';
import { FactsRefresher, diffFacts, jitteredDelay } from './facts-refresh.js';

const log = pino({ level: 'silent' });

const BASE: HostFacts = {
  hostname: 'cp-1',
  machineId: 'm',
  productUuid: 'u',
  macs: ['52:54:00:12:34:56'],
  ips: ['10.0.0.11'],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 4096,
  cgroupVersion: 2,
  kubeletVersion: 'v1.31.2',
  services: { 'kubelet.service': 'active', 'containerd.service': 'active' },
};

describe('diffFacts', () => {
  it.each<[string, Partial<HostFacts>, ReturnType<typeof diffFacts>]>([
    ['nothing when nothing changed', {}, null],
    ['a changed string', { kernel: '6.1.1' }, { changed: { kernel: '6.1.1' }, removed: [] }],
    ['an array by content', { ips: ['10.0.0.12'] }, { changed: { ips: ['10.0.0.12'] }, removed: [] }],
    [
      'a map of service states when one state changed',
      { services: { 'kubelet.service': 'active', 'containerd.service': 'inactive' } },
      {
        changed: { services: { 'kubelet.service': 'active', 'containerd.service': 'inactive' } },
        removed: [],
      },
    ],
    [
      'a new key',
      { kubePackages: { kubelet: '1.31.2-1.1' } },
      { changed: { kubePackages: { kubelet: '1.31.2-1.1' } }, removed: [] },
    ],
  ])('reports %s', (_name, change, expected) => {
    expect(diffFacts(BASE, { ...BASE, ...change })).toEqual(expected);
  });

  it('reports a key the host no longer has as removed', () => {
    const { kubeletVersion: _gone, ...after } = BASE;
    expect(diffFacts(BASE, after)).toEqual({ changed: {}, removed: ['kubeletVersion'] });
  });

  it('makes a frame the wire schema accepts', () => {
    const { kubeletVersion: _gone, ...after } = BASE;
    const diff = diffFacts(BASE, { ...after, kernel: '6.2' });
    expect(AgentFrame.safeParse({ type: 'facts', ...diff }).success).toBe(true);
  });
});

describe('jitteredDelay', () => {
  it.each([
    [0, 48_000],
    [0.5, 60_000],
    [1, 72_000],
  ])('is within ±20 %% of the period (random %f gives %i)', (random, expected) => {
    expect(jitteredDelay(60_000, () => random)).toBe(expected);
  });

  it('spreads a fleet over the whole window', () => {
    let seed = 1;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const delays = Array.from({ length: 1000 }, () => jitteredDelay(60_000, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(48_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(72_000);
    // 12 buckets of 2 s: none empty, none with more than twice its share
    const buckets = new Array<number>(12).fill(0);
    for (const d of delays) buckets[Math.min(11, Math.floor((d - 48_000) / 2000))]!++;
    expect(Math.min(...buckets)).toBeGreaterThan(0);
    expect(Math.max(...buckets)).toBeLessThan((1000 / 12) * 2);
  });
});

describe('FactsRefresher', () => {
  const setup = (online = true) => {
    let current: HostFacts = BASE;
    const sent: unknown[] = [];
    const state = { online };
    const refresher = new FactsRefresher({
      gather: () => Promise.resolve(current),
      send: (frame) => sent.push(frame),
      online: () => state.online,
      intervalMs: 1000,
      log,
      random: () => 0.5,
    });
    return { refresher, sent, state, set: (f: HostFacts) => (current = f) };
  };

  it('sends nothing before a hello, and nothing when nothing changed', async () => {
    const { refresher, sent } = setup();
    expect(await refresher.refresh()).toBeUndefined();
    refresher.sentInHello(BASE);
    expect(await refresher.refresh()).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('sends only the changed keys, once', async () => {
    const { refresher, sent, set } = setup();
    refresher.sentInHello(BASE);
    set({ ...BASE, kernel: '6.2.0' });
    await refresher.refresh();
    await refresher.refresh();
    expect(sent).toEqual([{ type: 'facts', changed: { kernel: '6.2.0' }, removed: [] }]);
  });

  it('sends nothing while offline, and diffs against the next hello', async () => {
    const { refresher, sent, set, state } = setup(false);
    refresher.sentInHello(BASE);
    set({ ...BASE, kernel: '6.2.0' });
    await refresher.refresh();
    expect(sent).toEqual([]);
    // the reconnect's hello carried the new kernel already
    refresher.sentInHello({ ...BASE, kernel: '6.2.0' });
    state.online = true;
    await refresher.refresh();
    expect(sent).toEqual([]);
  });

  it('drops a re-read that a hello overtook: the hello carried newer facts', async () => {
    const sent: unknown[] = [];
    let release: (f: HostFacts) => void = () => undefined;
    const refresher = new FactsRefresher({
      gather: () => new Promise<HostFacts>((resolve) => (release = resolve)),
      send: (frame) => sent.push(frame),
      online: () => true,
      intervalMs: 1000,
      log,
    });
    refresher.sentInHello(BASE);
    const pending = refresher.refresh();
    // the host changed, the connection dropped, and the new hello carried the change
    refresher.sentInHello({ ...BASE, kernel: '6.2.0' });
    release(BASE);
    expect(await pending).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('re-reads on its jittered period', async () => {
    vi.useFakeTimers();
    try {
      const { refresher, sent, set } = setup();
      refresher.sentInHello(BASE);
      refresher.start();
      set({ ...BASE, cpus: 4 });
      await vi.advanceTimersByTimeAsync(999);
      expect(sent).toEqual([]);
      await vi.advanceTimersByTimeAsync(2);
      expect(sent).toEqual([{ type: 'facts', changed: { cpus: 4 }, removed: [] }]);
      set({ ...BASE, cpus: 8 });
      await vi.advanceTimersByTimeAsync(1000);
      expect(sent).toHaveLength(2);
      refresher.stop();
      set({ ...BASE, cpus: 16 });
      await vi.advanceTimersByTimeAsync(5000);
      expect(sent).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('gatherFacts: kube packages and service states', () => {
  const roots: string[] = [];
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
  });
  const hostWith = async (files: Record<string, string>, programs: Record<string, string>) => {
    const root = await mkdtemp(join(tmpdir(), 'kctl-facts-refresh-'));
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
  };
  const stanza = (name: string, version: string, status = 'install ok installed'): string =>
    `Package: ${name}\nStatus: ${status}\nVersion: ${version}\n`;

  it('reads installed kube packages from dpkg status and unit states from one systemctl call', async () => {
    const argsDir = await mkdtemp(join(tmpdir(), 'kctl-facts-args-'));
    roots.push(argsDir);
    const argsFile = join(argsDir, 'args');
    const host = await hostWith(
      {
        '/proc/sys/kernel/hostname': 'cp-1\n',
        '/run/systemd/system/.keep': '',
        '/var/lib/dpkg/status': [
          stanza('kubelet', '1.31.2-1.1'),
          stanza('kubeadm', '1.31.2-1.1'),
          stanza('kubectl', '1.30.0-1.1', 'deinstall ok config-files'),
          stanza('containerd.io', '1.7.22-1'),
          stanza('bash', '5.2'),
        ].join('\n'),
      },
      { systemctl: `echo "$*" > ${argsFile}; printf "active\\ninactive\\nactive\\n"; exit 3` },
    );
    const facts = await gatherFacts(host);
    expect(facts.kubePackages).toEqual({ kubelet: '1.31.2-1.1', kubeadm: '1.31.2-1.1' });
    expect(facts.containerdVersion).toBe('1.7.22-1');
    expect(facts.services).toEqual({
      'containerd.service': 'active',
      'kubelet.service': 'inactive',
      'kctl-agent.service': 'active',
    });
    expect(await readFile(argsFile, 'utf8')).toBe(
      'is-active -- containerd.service kubelet.service kctl-agent.service\n',
    );
  });

  it('leaves services out where systemd is not init', async () => {
    const host = await hostWith({ '/proc/sys/kernel/hostname': 'c\n' }, { systemctl: 'echo active' });
    const facts = await gatherFacts(host);
    expect(facts.services).toBeUndefined();
    expect(facts.kubePackages).toBeUndefined();
  });
});
