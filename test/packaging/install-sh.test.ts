import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { agentControllerUrls, parseAgentConfig } from '../../agent/config.js';
import { ensurePrograms, tempDir } from './system-tools.js';
import { makeTestPki, type TestPki } from './test-pki.js';

const REPO = resolve(import.meta.dirname, '../..');
const INSTALL_SH = join(REPO, 'packaging/install.sh');
const STANDINS = join(REPO, 'test/packaging/standins');
const PIN = `sha256:${'ab'.repeat(32)}`;
const TOKEN = 'abcdef.0123456789abcdef';
const BINARY = Buffer.from('#!/bin/sh\necho "kctl-agent test payload"\n');
const BINARY_SHA = createHash('sha256').update(BINARY).digest('hex');

let work: { dir: string; remove: () => Promise<void> };
let binaryPath: string;
let pki: TestPki;
let server: Server;
let serverUrl: string;

beforeAll(async () => {
  await ensurePrograms({ shellcheck: 'shellcheck', curl: 'curl', openssl: 'openssl' });
  work = await tempDir('kctl-install-sh-');
  binaryPath = join(work.dir, 'kctl-agent-linux-x64');
  await writeFile(binaryPath, BINARY);
  pki = await makeTestPki(work.dir);
  server = createServer({ cert: pki.serverCert, key: pki.serverKey }, (req, res) => {
    if (req.url === '/artifacts/kctl-agent-linux-x64') res.end(BINARY);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  serverUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await work.remove();
});

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  calls: string[];
}

let runCounter = 0;

/** A fresh install root and systemctl stand-in state. */
async function freshRoot(): Promise<{ root: string; state: string; log: string }> {
  const base = join(work.dir, `run-${++runCounter}`);
  await mkdir(join(base, 'root'), { recursive: true });
  return { root: join(base, 'root'), state: join(base, 'systemctl-state'), log: join(base, 'systemctl.log') };
}

async function install(target: { root: string; state: string; log: string }, args: string[]): Promise<Run> {
  await writeFile(target.log, '');
  const r = await execa('sh', [INSTALL_SH, '--root', target.root, ...args], {
    reject: false,
    env: {
      PATH: `${STANDINS}:/usr/sbin:/usr/bin:/sbin:/bin`,
      SYSTEMCTL_STANDIN_LOG: target.log,
      SYSTEMCTL_STANDIN_STATE: target.state,
    },
    extendEnv: false,
  });
  const calls = (await readFile(target.log, 'utf8')).split('\n').filter(Boolean);
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, calls };
}

const baseArgs = (): string[] => [
  '--controller',
  'https://198.18.0.1:7443',
  '--ca-pin',
  PIN,
  '--token',
  TOKEN,
  '--sha256',
  BINARY_SHA,
  '--binary',
  binaryPath,
];

/** path -> "mode inode mtime" for every file under root: a second run must leave all of it alone */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true })) {
    const s = await stat(join(root, entry));
    out[entry] = `${(s.mode & 0o7777).toString(8)} ${s.ino} ${s.mtimeMs}`;
  }
  return out;
}

async function regularFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { recursive: true })) {
    if ((await stat(join(root, entry))).isFile()) out.push(entry);
  }
  return out;
}

describe('install.sh', () => {
  it('passes shellcheck as POSIX sh', async () => {
    const r = await execa('shellcheck', ['--shell=sh', INSTALL_SH], { reject: false });
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('embeds exactly the unit in packaging/systemd/kctl-agent.service', async () => {
    const script = await readFile(INSTALL_SH, 'utf8');
    const unit = await readFile(join(REPO, 'packaging/systemd/kctl-agent.service'), 'utf8');
    const embedded = /<<'UNIT'\n([\s\S]*?)^UNIT$/m.exec(script)?.[1];
    expect(embedded).toBe(unit);
  });

  it('refuses to install without --ca-pin and touches nothing', async () => {
    const target = await freshRoot();
    const args = baseArgs().filter((a, i, all) => a !== '--ca-pin' && all[i - 1] !== '--ca-pin');
    const r = await install(target, args);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('refusing to install without --ca-pin');
    expect(await readdir(target.root)).toEqual([]);
    expect(r.calls).toEqual([]);
  });

  it.each([
    ['an uppercase pin', ['--ca-pin', `sha256:${'AB'.repeat(32)}`], '--ca-pin must be'],
    ['a pin without the sha256: prefix', ['--ca-pin', 'ab'.repeat(32)], '--ca-pin must be'],
    ['a short pin', ['--ca-pin', `sha256:${'ab'.repeat(31)}`], '--ca-pin must be'],
    ['a pin with a second line', ['--ca-pin', `${PIN}\nx`], '--ca-pin must be'],
    ['an http controller', ['--controller', 'http://198.18.0.1:7443'], '--controller must be'],
    ['a malformed token', ['--token', 'abcdef0123456789abcdef'], '--token must look like'],
    ['a label without a value', ['--labels', 'role'], 'must be key=value'],
    ['a label value with a quote', ['--labels', 'role=a"b'], 'label value'],
    ['a label given twice', ['--labels', 'role=a,role=b'], 'given twice'],
    ['a malformed sha256', ['--sha256', 'abc'], '--sha256 must be'],
  ])('rejects %s before touching anything', async (_name, override, message) => {
    const target = await freshRoot();
    const args = baseArgs();
    const i = args.indexOf(override[0]!);
    if (i >= 0) args.splice(i, 2, ...override);
    else args.push(...override);
    const r = await install(target, args);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(await readdir(target.root)).toEqual([]);
  });

  it('installs binary, config and unit with the right modes, then enables and starts the unit', async () => {
    const target = await freshRoot();
    const r = await install(target, [...baseArgs(), '--labels', 'zone=b,role=worker']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const mode = async (p: string): Promise<string> =>
      ((await stat(join(target.root, p))).mode & 0o7777).toString(8);
    expect(await readFile(join(target.root, 'usr/local/bin/kctl-agent'))).toEqual(BINARY);
    expect(await mode('usr/local/bin/kctl-agent')).toBe('755');
    expect(await mode('etc/kctl/agent.yaml')).toBe('600');
    expect(await mode('etc/systemd/system/kctl-agent.service')).toBe('644');
    const config = parseAgentConfig(
      await readFile(join(target.root, 'etc/kctl/agent.yaml'), 'utf8'),
      'agent.yaml',
    );
    expect(config).toMatchObject({
      controllers: ['https://198.18.0.1:7443'],
      caPin: PIN,
      token: TOKEN,
      labels: { role: 'worker', zone: 'b' },
    });
    expect(r.calls).toEqual([
      'daemon-reload',
      'is-enabled --quiet kctl-agent.service',
      'enable --now kctl-agent.service',
      'is-active --quiet kctl-agent.service',
    ]);
    expect(await readdir(join(target.root, 'usr/local/bin'))).toEqual(['kctl-agent']);
  });

  it('changes nothing when run a second time with the same flags', async () => {
    const target = await freshRoot();
    expect((await install(target, baseArgs())).exitCode).toBe(0);
    const before = await snapshot(target.root);
    const again = await install(target, baseArgs());
    expect(again.exitCode).toBe(0);
    expect(await snapshot(target.root)).toEqual(before);
    expect(again.calls).toEqual([
      'is-enabled --quiet kctl-agent.service',
      'is-active --quiet kctl-agent.service',
    ]);
  });

  it('rewrites the config and restarts the agent when a flag changes', async () => {
    const target = await freshRoot();
    expect((await install(target, baseArgs())).exitCode).toBe(0);
    const r = await install(target, [...baseArgs(), '--labels', 'role=control-plane']);
    expect(r.exitCode).toBe(0);
    expect(await readFile(join(target.root, 'etc/kctl/agent.yaml'), 'utf8')).toContain(
      '"role": "control-plane"',
    );
    expect(r.calls).toEqual([
      'is-enabled --quiet kctl-agent.service',
      'is-active --quiet kctl-agent.service',
      'restart kctl-agent.service',
    ]);
  });

  it.each([
    [
      'repeated --controller flags',
      ['--controller', 'https://c2.example:7443', '--controller', 'https://[fd00::3]:7443/'],
    ],
    ['a comma-separated list', ['--controller', 'https://c2.example:7443,https://[fd00::3]:7443/']],
  ])('writes every controller URL, in order, from %s (issue 16)', async (_name, more) => {
    const target = await freshRoot();
    const r = await install(target, [...baseArgs(), ...more]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const text = await readFile(join(target.root, 'etc/kctl/agent.yaml'), 'utf8');
    const config = parseAgentConfig(text, 'agent.yaml');
    expect(agentControllerUrls(config)).toEqual([
      'https://198.18.0.1:7443',
      'https://c2.example:7443',
      'https://[fd00::3]:7443',
    ]);
    // a second run with the same list changes nothing
    const before = await snapshot(target.root);
    expect((await install(target, [...baseArgs(), ...more])).exitCode).toBe(0);
    expect(await snapshot(target.root)).toEqual(before);
  });

  it.each([
    [
      'an http URL in a list',
      'https://c2.example:7443,http://c3.example:7443',
      'got "http://c3.example:7443" (controller 3)',
    ],
    ['an empty entry in a list', 'https://c2.example:7443,,https://c3.example:7443', 'got "" (controller 3)'],
    [
      'the same controller twice',
      'https://C1.example:7443,https://c1.example:7443/',
      '--controller "https://c1.example:7443" is given twice',
    ],
  ])('rejects %s before touching anything', async (_name, list, message) => {
    const target = await freshRoot();
    const r = await install(target, [...baseArgs(), '--controller', list]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(await readdir(target.root)).toEqual([]);
  });

  it('refuses a binary whose sha256 does not match and installs nothing', async () => {
    const target = await freshRoot();
    const args = baseArgs();
    args[args.indexOf('--sha256') + 1] = 'cd'.repeat(32);
    const r = await install(target, args);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('checksum mismatch');
    expect(await readdir(join(target.root, 'usr/local/bin'))).toEqual([]);
    expect(r.calls).toEqual([]);
  });

  it('reads the token from --token-file', async () => {
    const target = await freshRoot();
    const tokenFile = join(work.dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const args = baseArgs().filter((a, i, all) => a !== '--token' && all[i - 1] !== '--token');
    const r = await install(target, [...args, '--token-file', tokenFile]);
    expect(r.exitCode).toBe(0);
    expect(await readFile(join(target.root, 'etc/kctl/agent.yaml'), 'utf8')).toContain(`token: "${TOKEN}"`);
  });

  it('downloads the binary over TLS trusting only --ca-cert, after checking it against --ca-pin', async () => {
    const target = await freshRoot();
    const args = [
      '--controller',
      serverUrl,
      '--ca-pin',
      pki.caPin,
      '--token',
      TOKEN,
      '--sha256',
      BINARY_SHA,
      '--binary-url',
      `${serverUrl}/artifacts/kctl-agent-linux-x64`,
      '--ca-cert',
      pki.caCertPath,
    ];
    const r = await install(target, args);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(await readFile(join(target.root, 'usr/local/bin/kctl-agent'))).toEqual(BINARY);
  });

  it('refuses a --ca-cert whose public key does not match --ca-pin', async () => {
    const target = await freshRoot();
    const r = await install(target, [...baseArgs(), '--ca-cert', pki.caCertPath]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`has pin ${pki.caPin}, not --ca-pin ${PIN}`);
    expect(await readdir(target.root)).toEqual([]);
  });

  it('fails the download when the server is not signed by --ca-cert', async () => {
    const other = await makeTestPki(work.dir, 'other');
    const target = await freshRoot();
    const r = await install(target, [
      '--controller',
      serverUrl,
      '--ca-pin',
      other.caPin,
      '--token',
      TOKEN,
      '--sha256',
      BINARY_SHA,
      '--binary-url',
      `${serverUrl}/artifacts/kctl-agent-linux-x64`,
      '--ca-cert',
      other.caCertPath,
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/curl: \(60\)/);
    expect(await regularFiles(target.root)).toEqual([]);
  });
});
