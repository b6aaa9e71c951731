import { afterEach, describe, expect, it } from 'vitest';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { applySteps, describeChange, planSteps } from './converge.js';
import { fileStep } from './file.js';
import { packagesStep } from './packages.js';
import { pendingRestarts } from './restarts.js';
import { serviceRestartOp } from '../ops/service-ops.js';
import pino from 'pino';

let t: TempHost | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const CONFIG = '/etc/containerd/config.toml';
const HOSTS = '/etc/containerd/certs.d/docker.io/hosts.toml';
const DROP_IN = '/etc/systemd/system/kubelet.service.d/20-kctl.conf';
/** systemd is the init system (sd_booted): the directory it makes at boot */
const BOOTED = { '/run/systemd/system/.booted': '' };
const systemctl = { systemctl: { script: 'case "$1" in show) echo loaded;; esac' } };
const restartCalls = async (host: TempHost) =>
  (await host.calls()).filter(
    (c) => c.program === 'systemctl' && ['daemon-reload', 'try-restart', 'restart'].includes(c.args[0] ?? ''),
  );

describe('restarts planned beside the changes that need them', () => {
  it('a changed config.toml plans "restart containerd", which runs once after every step, and is not planned again', async () => {
    t = await tempHost({ files: { [CONFIG]: 'version = 2\n', ...BOOTED }, programs: systemctl });
    const steps = [
      fileStep({
        path: CONFIG,
        content: 'version = 2\n# new\n',
        mode: 0o644,
        restarts: ['containerd.service'],
      }),
      fileStep({ path: HOSTS, content: 'server = "https://registry-1.docker.io"\n', mode: 0o644 }),
    ];
    const plan = await planSteps(t.host, steps);
    expect(plan[0]?.changes.map(describeChange)).toEqual([
      `update ${CONFIG}`,
      `restart containerd.service (${CONFIG} changed)`,
    ]);
    expect(plan[1]?.changes.map(describeChange)).toEqual([`create ${HOSTS}`]);
    const reports = await applySteps(t.host, steps);
    expect(reports.map((r) => [r.stepId, r.status])).toEqual([
      [`file:${CONFIG}`, 'applied'],
      [`file:${HOSTS}`, 'applied'],
      ['service-restarts', 'applied'],
    ]);
    expect(await restartCalls(t)).toEqual([
      { program: 'systemctl', args: ['try-restart', '--', 'containerd.service'] },
    ]);
    // a consequence, not a state: converged file, nothing pending, nothing restarted again
    expect((await planSteps(t.host, steps)).flatMap((p) => p.changes)).toEqual([]);
    const again = await applySteps(t.host, steps);
    expect(again.map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
    expect(await restartCalls(t)).toHaveLength(1);
  });

  it('restarts each unit once, after the packages step, with daemon-reload after a unit drop-in or package changed', async () => {
    t = await tempHost({
      files: { '/var/lib/fake-dpkg': 'kubelet=1.31.2-1.1\n', ...BOOTED },
      programs: {
        ...systemctl,
        'dpkg-query': {
          script: `shift 2; for p in "$@"; do [ "$p" = "--" ] && continue; v=$(grep "^$p=" "$KCTL_HOST_ROOT/var/lib/fake-dpkg" | tail -1 | cut -d= -f2); [ -n "$v" ] && printf '%s\\t%s\\thi \\n' "$p" "$v"; done; true`,
        },
        'apt-get': {
          script: `if [ "$1" = install ]; then for a in "$@"; do case "$a" in *=*) echo "$a" >> "$KCTL_HOST_ROOT/var/lib/fake-dpkg";; esac; done; fi`,
        },
        'apt-mark': { script: `[ "$1" = showhold ] && echo kubelet; true` },
      },
    });
    const steps = [
      fileStep({ path: DROP_IN, content: '[Service]\n', mode: 0o644, restarts: ['kubelet.service'] }),
      packagesStep(
        [{ name: 'kubelet', version: '1.31.3-1.1', hold: true, restarts: ['kubelet.service'] }],
        [],
        [`file:${DROP_IN}`],
      ),
    ];
    const plan = await planSteps(t.host, steps);
    expect(plan[1]?.changes.map(describeChange)).toEqual([
      'refresh package index (1 package(s) to install)',
      'kubelet: 1.31.2-1.1 -> 1.31.3-1.1',
      'restart kubelet.service (package kubelet changed)',
    ]);
    const reports = await applySteps(t.host, steps);
    expect(reports.at(-1)).toMatchObject({
      stepId: 'service-restarts',
      status: 'applied',
      changes: [
        {
          kind: 'service-restart',
          unit: 'kubelet.service',
          reason: `${DROP_IN} changed; package kubelet changed`,
        },
      ],
    });
    const calls = (await t.calls()).map((c) => `${c.program} ${c.args[0] ?? ''}`);
    const install = calls.lastIndexOf('apt-get install');
    expect(calls.slice(install + 1).filter((c) => c.startsWith('systemctl ') && !c.includes(' is-'))).toEqual(
      ['systemctl daemon-reload', 'systemctl try-restart'],
    );
    expect((await planSteps(t.host, steps)).flatMap((p) => p.changes)).toEqual([]);
  });

  it('a host not booted with systemd skips the restarts and calls no systemctl', async () => {
    t = await tempHost({ programs: systemctl });
    const reports = await applySteps(t.host, [
      fileStep({ path: CONFIG, content: 'x\n', mode: 0o644, restarts: ['containerd.service'] }),
    ]);
    expect(reports.at(-1)).toMatchObject({ stepId: 'service-restarts', status: 'skipped' });
    expect(await restartCalls(t)).toEqual([]);
  });

  it('a failed restart is a failed report', async () => {
    t = await tempHost({
      files: BOOTED,
      programs: {
        systemctl: { script: '[ "$1" = try-restart ] && { echo "Job failed" >&2; exit 1; }; true' },
      },
    });
    const reports = await applySteps(t.host, [
      fileStep({ path: CONFIG, content: 'x\n', mode: 0o644, restarts: ['containerd.service'] }),
    ]);
    expect(reports.at(-1)).toMatchObject({ stepId: 'service-restarts', status: 'failed' });
    expect(reports.at(-1)?.error?.message).toMatch(/try-restart/);
  });

  it.each([
    ['nothing applied asks for none', [], undefined],
    [
      'a unit this run started is not restarted',
      [
        { kind: 'service-restart' as const, unit: 'containerd.service', reason: 'x changed' },
        { kind: 'service' as const, unit: 'containerd.service', action: 'start' as const },
      ],
      undefined,
    ],
  ])('%s', (_name, applied, want) => {
    expect(pendingRestarts(applied)).toEqual(want);
  });
});

describe('service.restart op', () => {
  const ctx = (host: TempHost['host']) => ({
    host,
    hostId: 'h',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  it('reloads systemd and restarts the unit', async () => {
    t = await tempHost({ programs: systemctl });
    expect(await serviceRestartOp.run({ unit: 'kubelet.service' }, ctx(t.host))).toEqual({ restarted: true });
    expect((await t.calls()).map((c) => c.args.join(' '))).toEqual([
      'daemon-reload',
      'show --property=LoadState --value -- kubelet.service',
      'restart -- kubelet.service',
    ]);
  });

  it('reports a unit that is not installed instead of failing', async () => {
    t = await tempHost({ programs: { systemctl: { script: '[ "$1" = show ] && echo not-found; true' } } });
    expect(await serviceRestartOp.run({ unit: 'haproxy.service' }, ctx(t.host))).toEqual({
      restarted: false,
    });
  });
});
