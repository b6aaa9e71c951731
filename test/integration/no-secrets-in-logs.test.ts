import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, rename, writeFile, copyFile } from 'node:fs/promises';
import { request } from 'node:https';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import { createCa, issueAdminCert } from '../../controller/pki.js';
import { generateToken } from '../../controller/tokens.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { createLogger } from '../../proto/logging.js';
import { StateDir } from '../../agent/host/state-dir.js';
import { enroll } from '../../agent/enroll.js';
import { rotateIfDue } from '../../agent/rotate.js';
import { httpsNet } from '../../agent/host/https-net.js';
import { kctl } from './harness.js';
import { startLab, type Lab } from './ha-lab.js';
import { BOOTSTRAP_TOKEN, findSecrets } from '../fixtures/secret-scan.js';

/**
 * S19: no secret reaches any log. Everything a full HA apply on loopback writes (controller and
 * agents stdout+stderr, kctl's output, the stand-ins' calls.jsonl, the store's audit and apply
 * journal, the agents' command journals) is searched for the bootstrap tokens, certificate keys and
 * private keys that were really used, and for anything shaped like one.
 */

describe('the secret detector (self-check: it must be able to fail)', () => {
  const token = generateToken().token;
  const key = 'ab'.repeat(32);
  it.each([
    ['a bootstrap token in a JSON log line', `{"msg":"join","token":"${token}"}`, 'bootstrap-token'],
    ['a token in an argv', `kubeadm join --token ${token} 10.0.0.1:6443`, 'bootstrap-token'],
    ['a certificate key', `--certificate-key ${key}`, 'certificate-key'],
    ['a certificate key in YAML', `certificateKey: "${key}"`, 'certificate-key'],
    ['a certificate key in JSON', `{"certificateKey":"${key}"}`, 'certificate-key'],
    ['a certificate key after a digest', `sha256:${'0f'.repeat(32)} ${key}`, 'certificate-key'],
    ['a PEM private key', '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----', 'private-key'],
    ['an EC PEM private key', '-----BEGIN EC PRIVATE KEY-----', 'private-key'],
    ['the secret half of a known token', `secret=${token.split('.')[1] ?? ''}`, 'known-secret'],
  ])('finds %s', (_what, text, kind) => {
    expect(findSecrets('planted', text, [token]).map((f) => f.kind)).toContain(kind);
  });

  it('does not flag digests, ids and redactions', () => {
    const clean = [
      `planHash sha256:${'0f'.repeat(32)}`,
      `"caCertHash":"sha256:${'12'.repeat(32)}"`,
      `"previousSha256":null,"nextSha256":"${'34'.repeat(32)}"`,
      `"planHash": "${'56'.repeat(32)}"`,
      '"token":"[redacted]"',
      '"--certificate-key","[redacted]"',
      `token id ${token.slice(0, 6)} created`,
      'kubeadm.joinMaterial kctl-agent.service',
      `machine-id ${'a'.repeat(32)}`,
    ].join('\n');
    expect(findSecrets('clean', clean, [token])).toEqual([]);
  });

  it('does not show the secret it found', () => {
    const [f] = findSecrets('planted', `token=${token}`, []);
    expect(f?.excerpt).not.toContain(token);
  });
});

/** A wrapper in front of the kubeadm STAND-IN that keeps the secrets it is given (argv, --config file) as the test's oracle. */
async function captureKubeadmSecrets(bin: string, capture: string): Promise<void> {
  const real = join(bin, 'real');
  await mkdir(real, { recursive: true });
  await rename(join(bin, 'kubeadm'), join(real, 'kubeadm'));
  await copyFile(join(bin, 'package.json'), join(real, 'package.json'));
  await writeFile(
    join(bin, 'kubeadm'),
    [
      '#!/bin/sh',
      '# test wrapper around the kubeadm STAND-IN: records what it is given, then runs it',
      '{',
      '  printf "argv:"; printf " %s" "$@"; printf "\\n"',
      '  prev=',
      '  for a in "$@"; do',
      '    if [ "$prev" = "--config" ]; then',
      '      if [ -f "$a" ]; then cat "$a"; elif [ -f "$KCTL_HOST_ROOT$a" ]; then cat "$KCTL_HOST_ROOT$a"; fi',
      '    fi',
      '    prev=$a',
      '  done',
      `} >> '${capture}'`,
      `exec '${join(real, 'kubeadm')}' "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const intruderFacts = {
  hostname: 'intruder',
  machineId: 'c'.repeat(32),
  productUuid: 'p',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2 as const,
};

function post(url: string, body: unknown, tls: { ca: string; cert?: string; key?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        method: body === undefined ? 'GET' : 'POST',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: [tls.ca],
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('no secret in any log of a full HA apply (S19)', () => {
  let lab: Lab;
  let capture: string;
  beforeAll(async () => {
    lab = await startLab();
    capture = join(lab.dir, 'kubeadm-secrets.txt');
    await captureKubeadmSecrets(join(lab.dir, 'bin'), capture);
  }, 120_000);
  afterAll(() => lab?.close());

  it(
    'token create, enrollment, refusals, plan, apply with join material: no token, certificate key or private key in any output',
    { timeout: 240_000 },
    async () => {
      const outputs: Array<{ source: string; text: string }> = [];
      const run = async (
        args: string[],
      ): Promise<{ code: number | null; stdout: string; stderr: string }> => {
        const r = await kctl(args, { env: lab.env });
        outputs.push({ source: `kctl ${args.join(' ')} (stderr)`, text: r.stderr });
        return r;
      };
      // a second token, printed once to stdout (the one place it belongs), then listed and deleted
      const made = await run(['token', 'create', '--ttl', '30m', '--description', 'spare']);
      expect(made.code).toBe(0);
      const spare = made.stdout.trim();
      outputs.push({ source: 'kctl token list', text: (await run(['token', 'list', '-o', 'json'])).stdout });
      expect((await run(['token', 'delete', spare.split('.')[0] ?? ''])).code).toBe(0);

      // refusals that carry secret material: a wrong token secret, a foreign client certificate
      const caPem = await readFile(join(lab.controller.dataDir, 'ca.crt'), 'utf8');
      const presented = `${spare.split('.')[0] ?? ''}.${generateToken().secret}`;
      expect(
        await post(
          `${lab.controller.url}/v1/enroll`,
          {
            token: presented,
            csrPem: (await createAgentKeyAndCsr()).csrPem,
            facts: intruderFacts,
            labels: {},
            protocolVersion: PROTOCOL_VERSION,
          },
          { ca: caPem },
        ),
      ).toBe(401);
      const foreign = await issueAdminCert(await createCa({ commonName: 'foreign' }), { name: 'admin' });
      expect(
        await post(`${lab.controller.url}/v1/admin/hosts`, undefined, {
          ca: caPem,
          cert: foreign.certPem,
          key: foreign.keyPem,
        }),
      ).toBe(401);

      const plan = await run(['plan', '-f', lab.clusterFile]);
      expect(plan.code, plan.stderr).toBe(0);
      outputs.push({ source: 'kctl plan', text: plan.stdout });
      const apply = await run(['apply', '-f', lab.clusterFile]);
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      outputs.push({ source: 'kctl apply', text: apply.stdout });
      const status = await run(['status', '-o', 'json']);
      outputs.push({ source: 'kctl status', text: status.stdout });

      // enrollment and a certificate rotation of one more host, in process, with its debug log captured
      const rotorToken = (await run(['token', 'create'])).stdout.trim();
      const state = new StateDir(join(lab.dir, 'rotor-state'));
      await state.init();
      let rotorLog = '';
      const sink = new PassThrough();
      sink.on('data', (d: Buffer) => (rotorLog += d.toString()));
      const log = createLogger({ name: 'kctl-agent', level: 'debug', destination: sink });
      const first = await enroll({
        controller: lab.controller.url,
        pins: [lab.controller.caPin],
        skipCaVerification: false,
        token: rotorToken,
        facts: { ...intruderFacts, hostname: 'rotor' },
        labels: {},
        state,
        log,
        net: httpsNet,
      });
      const second = await rotateIfDue({
        controller: lab.controller.url,
        identity: first,
        state,
        log,
        net: httpsNet,
        force: true,
      });
      expect(second.certPem).not.toBe(first.certPem);
      outputs.push({ source: 'agent rotor (in process)', text: rotorLog });

      // the secrets really used: the enrollment token, the spare, the presented one, and what kubeadm was given
      const enrollToken = (parseYaml(await readFile(lab.agents[0]!.configFile, 'utf8')) as { token: string })
        .token;
      const given = await readFile(capture, 'utf8');
      const joinTokens = [...new Set(given.match(BOOTSTRAP_TOKEN) ?? [])];
      const certKeys = [
        ...new Set(
          [...given.matchAll(/(?:certificateKey:\s*"?|--certificate-key[ =])([0-9a-f]{64})/g)].map(
            (m) => m[1] ?? '',
          ),
        ),
      ];
      // the oracle must have seen them, or the check below proves nothing
      expect(joinTokens.length, given.slice(0, 2000)).toBeGreaterThanOrEqual(1);
      expect(certKeys.length, given.slice(0, 2000)).toBeGreaterThanOrEqual(1);
      const known = [enrollToken, spare, presented, rotorToken, ...joinTokens, ...certKeys];

      // every log: controller and agents (stdout+stderr), stand-in calls, store audit and apply journal, agent journals
      outputs.push({ source: 'controller', text: lab.controller.proc.output() });
      for (const a of lab.agents) outputs.push({ source: `agent ${a.name}`, text: a.proc.output() });
      outputs.push({
        source: 'calls.jsonl',
        text: await readFile(join(lab.clusterDir, 'calls.jsonl'), 'utf8'),
      });
      const db = new Database(join(lab.controller.dataDir, 'state.db'), { readonly: true });
      try {
        for (const table of ['audit', 'applies', 'apply_steps']) {
          outputs.push({
            source: `store ${table}`,
            text: JSON.stringify(db.prepare(`SELECT * FROM ${table}`).all()),
          });
        }
        const count = (action: string): unknown =>
          db.prepare('SELECT COUNT(*) AS n FROM audit WHERE action = ?').get(action);
        expect(count('token.create')).toMatchObject({ n: 3 });
        expect(count('host.cert.rotate')).toMatchObject({ n: 1 });
      } finally {
        db.close();
      }
      for (const a of lab.agents) {
        for (const f of await filesUnder(join(a.stateDir, 'state', 'journal'))) {
          outputs.push({
            source: `journal ${a.name} ${f.split('/').pop() ?? ''}`,
            text: await readFile(f, 'utf8'),
          });
        }
      }

      // the detector finds them where they belong (what kubeadm was given), so it can fail here
      const inOracle = findSecrets('kubeadm input', given, known);
      expect(inOracle.filter((f) => f.kind === 'known-secret').length).toBeGreaterThanOrEqual(2);
      expect(inOracle.some((f) => f.kind === 'bootstrap-token')).toBe(true);
      expect(inOracle.some((f) => f.kind === 'certificate-key')).toBe(true);

      const findings = outputs.flatMap((o) => findSecrets(o.source, o.text, known));
      const bytes = outputs.reduce((n, o) => n + o.text.length, 0);
      process.stderr.write(
        `no-secrets-in-logs: searched ${outputs.length} outputs, ${bytes} characters, for ${known.length} known secrets (${joinTokens.length} join tokens, ${certKeys.length} certificate keys)\n`,
      );
      expect(findings.slice(0, 20), `${findings.length} findings`).toEqual([]);
      // and the outputs were really there to search
      expect(lab.controller.proc.output()).toMatch(/tls client certificate refused/);
      expect(lab.controller.proc.output()).toMatch(/enrollment refused/);
      expect(bytes).toBeGreaterThan(100_000);
    },
  );
});
