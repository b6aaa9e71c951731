import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensurePrograms, tempDir } from './system-tools.js';

const REPO = resolve(import.meta.dirname, '../..');
const UNITS = join(REPO, 'packaging/systemd');
const UNIT_NAMES = ['kctl-agent.service', 'kctl-controller.service'] as const;

let work: { dir: string; remove: () => Promise<void> };

beforeAll(async () => {
  await ensurePrograms({ 'systemd-analyze': 'systemd', shellcheck: 'shellcheck' });
  work = await tempDir('kctl-units-');
});
afterAll(async () => {
  await work.remove();
});

const unitText = (name: string): Promise<string> => readFile(join(UNITS, name), 'utf8');

/** key=value settings of a unit, in order (comments and section headers left out) */
function settings(text: string): Array<{ key: string; value: string; line: number }> {
  return text.split('\n').flatMap((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) return [];
    const eq = line.indexOf('=');
    return [{ key: line.slice(0, eq), value: line.slice(eq + 1), line: i }];
  });
}

const valueOf = (text: string, key: string): string[] =>
  settings(text)
    .filter((s) => s.key === key)
    .map((s) => s.value);

describe.each(UNIT_NAMES)('%s', (name) => {
  it('passes systemd-analyze verify without a warning', async () => {
    // verify checks that ExecStart= programs exist: point them at an executable stand-in file
    const fakeBin = join(work.dir, `${name}.bin`);
    await writeFile(fakeBin, '#!/bin/sh\nexit 0\n');
    await chmod(fakeBin, 0o755);
    const text = (await unitText(name)).replace(
      /(Exec\w+=)\/usr\/(local\/)?bin\/kctl(-agent)?/g,
      `$1${fakeBin}`,
    );
    expect(text).toContain(fakeBin);
    const copy = join(work.dir, name);
    await writeFile(copy, text);
    const r = await execa('systemd-analyze', ['verify', copy], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('has a comment directly above every option (S20)', async () => {
    const lines = (await unitText(name)).split('\n');
    const uncommented = settings(lines.join('\n'))
      .filter((s) => !lines[s.line - 1]?.startsWith('#'))
      .map((s) => s.key);
    expect(uncommented).toEqual([]);
  });

  it('restarts always, logs to the journal and never sets MemoryDenyWriteExecute (it crashes Node)', async () => {
    const text = await unitText(name);
    expect(valueOf(text, 'Restart')).toEqual(['always']);
    expect(valueOf(text, 'StandardOutput')).toEqual(['journal']);
    expect(valueOf(text, 'MemoryDenyWriteExecute')).toEqual([]);
  });

  it('scores no worse in systemd-analyze security than the recorded baseline', async () => {
    const baseline = JSON.parse(await readFile(join(UNITS, 'security-baseline.json'), 'utf8')) as Record<
      string,
      number
    >;
    const r = await execa('sh', [join(REPO, 'packaging/security-score.sh'), join(UNITS, name)]);
    const score = Number(r.stdout.split(' ')[1]);
    expect(Number.isFinite(score)).toBe(true);
    expect(score).toBeLessThanOrEqual(baseline[name]!);
  });
});

describe('kctl-agent.service', () => {
  it.each([
    'ProtectSystem',
    'ProtectKernelModules',
    'ProtectKernelTunables',
    'PrivateTmp',
    'RestrictSUIDSGID',
  ])('leaves %s unset so dpkg, modprobe and sysctl keep working', async (key) => {
    expect(valueOf(await unitText('kctl-agent.service'), key)).toEqual([]);
  });

  it('kills only the agent on stop so an interrupted dpkg child survives a restart', async () => {
    expect(valueOf(await unitText('kctl-agent.service'), 'KillMode')).toEqual(['process']);
  });

  it('waits for a config before starting and runs the binary the install paths put in /usr/local/bin', async () => {
    const text = await unitText('kctl-agent.service');
    expect(valueOf(text, 'ConditionPathExists')).toEqual(['/etc/kctl/agent.yaml']);
    expect(valueOf(text, 'ExecStart')).toEqual(['/usr/local/bin/kctl-agent --config /etc/kctl/agent.yaml']);
  });
});

describe('kctl-controller.service', () => {
  it.each([
    ['DynamicUser', 'yes'],
    ['ProtectSystem', 'strict'],
    ['StateDirectory', 'kctl-controller'],
    ['CapabilityBoundingSet', ''],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelTunables', 'yes'],
  ])('sets %s=%s', async (key, value) => {
    expect(valueOf(await unitText('kctl-controller.service'), key)).toEqual([value]);
  });
});

describe('security scores', () => {
  it('are recorded in docs/install.md as they are in the baseline', async () => {
    const baseline = JSON.parse(await readFile(join(UNITS, 'security-baseline.json'), 'utf8')) as Record<
      string,
      number
    >;
    const doc = await readFile(join(REPO, 'docs/install.md'), 'utf8');
    for (const [unit, score] of Object.entries(baseline)) {
      expect(doc).toMatch(
        new RegExp(`\\|\\s*${unit.replace('.', '\\.')}\\s*\\|\\s*${score.toFixed(1)}\\s*\\|`),
      );
    }
  });

  it('are printed by a script that passes shellcheck', async () => {
    const r = await execa('shellcheck', ['--shell=sh', join(REPO, 'packaging/security-score.sh')], {
      reject: false,
    });
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
