import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { agentControllerUrls, parseAgentConfig } from '../../agent/config.js';
import { AGENT_UNIT, renderCloudInit, type CloudInitInput } from '../../controller/cloud-init.js';
import { ensurePrograms, tempDir } from './system-tools.js';
import { makeTestPki, type TestPki } from './test-pki.js';

const REPO = resolve(import.meta.dirname, '../..');
const STANDINS = join(REPO, 'test/packaging/standins');
const TOKEN = 'abcdef.0123456789abcdef';
const BINARY = Buffer.from('#!/bin/sh\necho "kctl-agent test payload"\n');
const BINARY_SHA = createHash('sha256').update(BINARY).digest('hex');

let work: { dir: string; remove: () => Promise<void> };
let pki: TestPki;
let server: Server;
let base: string;

beforeAll(async () => {
  await ensurePrograms({
    'cloud-init': 'cloud-init',
    'systemd-analyze': 'systemd',
    curl: 'curl',
    openssl: 'openssl',
  });
  work = await tempDir('kctl-cloud-init-');
  pki = await makeTestPki(work.dir);
  server = createServer({ cert: pki.serverCert, key: pki.serverKey }, (req, res) => {
    if (req.url === '/artifacts/kctl-agent-linux-x64') res.end(BINARY);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await work.remove();
});

const input = (over: Partial<CloudInitInput> = {}): CloudInitInput => ({
  controllerUrls: [base],
  caPin: pki.caPin,
  caCertPem: pki.caCertPem,
  token: TOKEN,
  role: 'worker',
  labels: {},
  agentArtifact: { url: `${base}/artifacts/kctl-agent-linux-x64`, sha256: BINARY_SHA },
  ...over,
});

interface WriteFile {
  path: string;
  permissions: string;
  content: string;
}
const writeFiles = (text: string): WriteFile[] => (parse(text) as { write_files: WriteFile[] }).write_files;

describe('kctl cloud-init user-data', () => {
  it.each(['worker', 'control-plane'] as const)('passes cloud-init schema for a %s', async (role) => {
    const file = join(work.dir, `user-data-${role}.yaml`);
    await writeFile(file, renderCloudInit(input({ role, labels: { zone: 'a' } })));
    const r = await execa('cloud-init', ['schema', '--config-file', file], { reject: false });
    expect(r.stdout).toContain('Valid cloud-config');
    expect(r.exitCode).toBe(0);
  });

  it('writes an agent.yaml the agent itself accepts', () => {
    const config = writeFiles(renderCloudInit(input({ role: 'control-plane' }))).find(
      (f) => f.path === '/etc/kctl/agent.yaml',
    )!;
    expect(parseAgentConfig(config.content, 'agent.yaml')).toMatchObject({
      controllers: [base],
      caPin: pki.caPin,
      token: TOKEN,
      labels: { role: 'control-plane' },
    });
  });

  it("writes every replica's URL into agent.yaml, once each, in order (issue 16)", () => {
    const userData = renderCloudInit(
      input({
        controllerUrls: [
          base,
          'https://c2.example:7443/',
          'https://[fd00::3]:7443',
          'https://C2.example:7443',
        ],
      }),
    );
    const config = writeFiles(userData).find((f) => f.path === '/etc/kctl/agent.yaml')!;
    expect(agentControllerUrls(parseAgentConfig(config.content, 'agent.yaml'))).toEqual([
      base,
      'https://c2.example:7443',
      'https://[fd00::3]:7443',
    ]);
  });

  it('still takes the single controllerUrl of callers before issue 16', () => {
    const { controllerUrls: _list, ...single } = input();
    const config = writeFiles(renderCloudInit({ ...single, controllerUrl: base })).find(
      (f) => f.path === '/etc/kctl/agent.yaml',
    )!;
    expect(agentControllerUrls(parseAgentConfig(config.content, 'agent.yaml'))).toEqual([base]);
  });

  it.each([
    [{ controllerUrls: [] }, 'controllerUrls: Too small'],
    [{ controllerUrls: ['https://c1:7443', 'http://c2:7443'] }, 'controllerUrls.1: must be an https:// URL'],
    [
      { controllerUrls: ['https://c1:7443', 'https://c2:7443/$x'] },
      'controllerUrls.1: must be an https:// URL',
    ],
  ])('refuses controller URLs %j naming the field and index', (over, message) => {
    expect(() => renderCloudInit(input(over))).toThrow(message);
  });

  it('writes the same agent unit as packaging/systemd/kctl-agent.service', async () => {
    expect(AGENT_UNIT).toBe(await readFile(join(REPO, 'packaging/systemd/kctl-agent.service'), 'utf8'));
  });

  it('writes an installer unit that passes systemd-analyze verify', async () => {
    const unit = writeFiles(renderCloudInit(input())).find((f) =>
      f.path.endsWith('kctl-agent-install.service'),
    )!;
    const file = join(work.dir, 'kctl-agent-install.service');
    await writeFile(file, unit.content);
    const r = await execa('systemd-analyze', ['verify', file], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});

/**
 * Runs the installer unit's ExecStart= lines in order, as systemd would (stop at the first
 * failure), with every host path moved under a temp root and systemctl replaced by the recording
 * stand-in. The curl, sha256sum and install are the real programs.
 */
async function runInstallerSteps(
  userData: string,
): Promise<{ root: string; ran: string[]; failed?: string }> {
  const root = join(work.dir, `host-${Math.random().toString(16).slice(2)}`);
  const moved = (text: string): string =>
    text.replace(
      /(?<![\w/])\/(etc\/kctl|var\/lib\/kctl-agent-install|run\/kctl-agent-install|usr\/local\/bin)/g,
      `${root}/$1`,
    );
  for (const dir of ['var/lib/kctl-agent-install', 'run/kctl-agent-install', 'usr/local/bin']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  for (const f of writeFiles(userData)) {
    const target = join(root, f.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, moved(f.content), { mode: Number.parseInt(f.permissions, 8) });
  }
  const unit = await readFile(join(root, 'etc/systemd/system/kctl-agent-install.service'), 'utf8');
  const steps = unit
    .replace(/ \\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => l.startsWith('ExecStart='))
    .map((l) => l.slice('ExecStart='.length).split(' '));
  const ran: string[] = [];
  for (const [program, ...args] of steps) {
    const bin = program === '/bin/systemctl' ? join(STANDINS, 'systemctl') : program!;
    const r = await execa(bin, args, {
      reject: false,
      env: {
        SYSTEMCTL_STANDIN_LOG: join(root, 'systemctl.log'),
        SYSTEMCTL_STANDIN_STATE: join(root, 'state'),
      },
    });
    ran.push(program!);
    if (r.exitCode !== 0) return { root, ran, failed: `${program}: ${r.stderr}${r.stdout}` };
  }
  return { root, ran };
}

describe('the installer steps written by kctl cloud-init', () => {
  it('download the agent trusting the written CA, verify it, install it and start the unit', async () => {
    const { root, ran, failed } = await runInstallerSteps(renderCloudInit(input()));
    expect(failed).toBeUndefined();
    expect(ran).toHaveLength(4);
    expect(await readFile(join(root, 'usr/local/bin/kctl-agent'))).toEqual(BINARY);
    expect((await stat(join(root, 'usr/local/bin/kctl-agent'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(root, 'systemctl.log'), 'utf8')).toBe('enable --now kctl-agent.service\n');
  });

  it('stop at the checksum and install nothing when the download is not the expected file', async () => {
    const userData = renderCloudInit(
      input({ agentArtifact: { url: `${base}/artifacts/kctl-agent-linux-x64`, sha256: 'd'.repeat(64) } }),
    );
    const { root, ran, failed } = await runInstallerSteps(userData);
    expect(ran).toEqual(['/usr/bin/curl', '/usr/bin/sha256sum']);
    expect(failed).toContain('FAILED');
    await expect(stat(join(root, 'usr/local/bin/kctl-agent'))).rejects.toThrow(/ENOENT/);
  });

  it('refuse the download when the server is not signed by the written CA', async () => {
    const other = await makeTestPki(work.dir, 'other');
    const userData = renderCloudInit(input({ caCertPem: other.caCertPem, caPin: other.caPin }));
    const { ran, failed } = await runInstallerSteps(userData);
    expect(ran).toEqual(['/usr/bin/curl']);
    expect(failed).toMatch(/curl: \(60\)/);
  });

  it("need the empty --capath: with --cacert alone, Debian's curl still searches /etc/ssl/certs", async () => {
    const url = `${base}/artifacts/kctl-agent-linux-x64`;
    const alone = await execa('curl', ['-sv', '-o', '/dev/null', '--cacert', pki.caCertPath, url], {
      reject: false,
    });
    expect(alone.stderr).toContain('CApath: /etc/ssl/certs');
    const empty = join(work.dir, 'empty-ca-dir');
    await mkdir(empty, { recursive: true });
    const ours = await execa(
      'curl',
      ['-sv', '-o', '/dev/null', '--cacert', pki.caCertPath, '--capath', empty, url],
      {
        reject: false,
      },
    );
    expect(ours.stderr).toContain(`CApath: ${empty}`);
    expect(ours.stderr).not.toContain('/etc/ssl/certs');
    expect(ours.exitCode).toBe(0);
  });
});
