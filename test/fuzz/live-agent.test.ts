import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { ErrorCode } from '../../proto/errors.js';
import { Ops } from '../../proto/ops.js';
import { ControllerFrame, ErrorFrame, OpName, Outcome, ResultFrame, parseJson } from '../../proto/wire.js';
import { MAX_FRAME_BYTES, MAX_WS_FRAGMENTS } from '../../proto/version.js';
import { JournalEntry } from '../../agent/journal.js';
import { WRITE_ALLOWLIST, isInsideAllowlist } from '../../agent/host/paths.js';
import {
  cleanup,
  makeHostRoot,
  startAgentProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from '../integration/harness.js';
import { startFakeController, type FakeController } from './fake-controller.js';
import {
  fuzzSeed,
  hostileCase,
  setPath,
  template,
  wireBytes,
  wireText,
  wrongTypeFor,
  type HostileCase,
} from './hostile-frames.js';

/**
 * Issue 7, fuzzing a RUNNING agent: a stand-in controller (TLS with the CA the agent pins, mutual
 * TLS on the channel) sends random command frames, random ops and random args to a real agent
 * process on a temp host root, whose only programs are recording stubs. The agent must never
 * crash, must answer with typed errors that name the field, must run no unknown op, must change no
 * file outside its write allow-list (a symlink planted to lead outside is not followed), and must
 * keep its journal readable.
 */
/** bounded so the file stays under a minute on a loaded 2-core machine; FUZZ_RUNS=300 for a longer hunt */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const seed = fuzzSeed('live-agent');
const HOST_ID = 'h-fuzz';
/** every program an op may look for; each is a stub that records its argv and does nothing */
const STUBS = [
  'kubeadm',
  'kubectl',
  'kubelet',
  'systemctl',
  'apt-get',
  'apt-mark',
  'dpkg-query',
  'modprobe',
  'swapoff',
  'iptables',
  'ipvsadm',
  'rpm',
  'dnf',
  'sysctl',
];

const spec = {
  hostName: 'fuzz-host',
  role: 'worker',
  kubernetesVersion: 'v1.31.2',
  kubeProxyMode: 'iptables',
};
const HOSTILE_PATHS = [
  '/etc/passwd',
  '/etc/shadow',
  '/root/.ssh/authorized_keys',
  '/usr/bin/kubeadm',
  '/etc/kubernetes/escape/pwned',
  '/etc/kubernetes/escape/../../x',
  '/etc/kubernetes//double',
  '/etc/kubernetes/./dot',
  '/etc/kubernetes/fuzz.conf',
  '/etc/sysctl.d/99-fuzz.conf',
  '/var/lib/kctl-agent/fuzz',
  '/etc/hosts',
  '/proc/sys/kernel/hostname',
  '/etc/kubernetes',
];
/** args that pass each op's schema, so the op really runs (against stubs and the temp root) */
const VALID_ARGS: Record<string, Array<Record<string, unknown>>> = {
  ping: [{}, { delayMs: 5 }],
  'facts.get': [{}],
  'host.plan': [{ spec }],
  'host.apply': [{ spec }],
  'kubeadm.state': [{}],
  'kubectl.nodes': [{}],
  'kubeadm.reset': [{}],
  'kubeadm.upgradeNode': [{}],
  'kubeadm.upgradeApply': [{ version: 'v1.31.3' }],
  'kubectl.uncordon': [{ node: 'n1' }],
  'kubectl.drain': [{ node: 'n1' }],
  'kubectl.deleteNode': [{ node: 'n1' }],
  'kubectl.apply': [{ name: 'cni', manifest: 'kind: List\n' }],
  'kubeadm.joinMaterial': [{ token: 'abcdef.0123456789abcdef', tokenTtl: '1h' }],
  'kubeadm.init': [
    {
      config: 'kind: InitConfiguration\n',
      manifests: [{ path: '/etc/kubernetes/manifests/kube-vip.yaml', content: 'a: b\n' }],
    },
  ],
  'kubeadm.join': [{ config: 'kind: JoinConfiguration\n', controlPlane: false }],
};
const KNOWN = Object.keys(Ops);

type CommandCase =
  | { kind: 'unknown-op'; op: string; args: Record<string, unknown> }
  | { kind: 'bad-args'; op: string; args: Record<string, unknown>; field: string; unknownKey?: boolean }
  | { kind: 'valid'; op: string; args: Record<string, unknown> }
  /** S11: for another host, or already expired (expiresAt <= now, the boundary included) */
  | { kind: 'foreign'; op: string; args: Record<string, unknown>; hostId: string }
  | { kind: 'expired'; op: string; args: Record<string, unknown>; ageMs: number };

const anyArgs = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });

const hostileSpec = fc
  .record({
    files: fc.array(
      fc.record({
        path: fc.constantFrom(...HOSTILE_PATHS),
        content: fc.string({ maxLength: 64 }),
        mode: fc.constantFrom(0o644, 0o600, 0o4755, 0o777),
      }),
      { maxLength: 3 },
    ),
    sysctls: fc.dictionary(
      fc.constantFrom('net.ipv4.ip_forward', 'kernel.core_pattern', 'vm.swappiness'),
      fc.constantFrom('0', '1', '|/tmp/x'),
    ),
    modules: fc.array(
      fc.record({
        name: fc.constantFrom('br_netfilter', 'overlay', 'evil_mod'),
        requiredFor: fc.constant('fuzz'),
      }),
      { maxLength: 2 },
    ),
    packages: fc.array(
      fc.record({ name: fc.constantFrom('kubelet', 'curl'), version: fc.constantFrom('1.31.2-1.1', '1:2') }),
      { maxLength: 2 },
    ),
    services: fc.array(fc.record({ unit: fc.constantFrom('kubelet.service', 'ssh.service') }), {
      maxLength: 1,
    }),
  })
  .map((extra) => ({ ...spec, ...extra }));

const commandCase: fc.Arbitrary<CommandCase> = fc.oneof(
  fc
    .record({
      op: fc.constantFrom(...Object.keys(VALID_ARGS)),
      hostId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
    })
    .filter(({ hostId }) => hostId !== HOST_ID)
    .map(({ op, hostId }): CommandCase => ({ kind: 'foreign', op, args: VALID_ARGS[op]?.[0] ?? {}, hostId })),
  fc
    .record({
      op: fc.constantFrom(...Object.keys(VALID_ARGS)),
      ageMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 ** 9 })),
    })
    .map(({ op, ageMs }): CommandCase => ({ kind: 'expired', op, args: VALID_ARGS[op]?.[0] ?? {}, ageMs })),
  fc
    .record({
      op: fc.oneof(
        fc.constantFrom(
          'exec',
          'shell.run',
          'host.exec',
          'constructor',
          'toString',
          'hasOwnProperty',
          'valueOf',
          'ping.x',
          'facts',
        ),
        fc.stringMatching(/^[a-z][a-z0-9]{0,8}(\.[a-z][a-zA-Z0-9]{0,8}){0,2}$/),
      ),
      args: anyArgs,
    })
    .filter(({ op }) => !KNOWN.includes(op))
    .map(({ op, args }): CommandCase => ({ kind: 'unknown-op', op, args })),
  fc
    .record({ op: fc.constantFrom(...Object.keys(VALID_ARGS)), i: fc.nat(), p: fc.nat() })
    .chain(({ op, i, p }) => {
      const valid = VALID_ARGS[op] ?? [{}];
      const base = valid[i % valid.length] ?? {};
      const t = template(base);
      const withKey = fc
        .record({ k: fc.string({ minLength: 1, maxLength: 10 }), v: fc.jsonValue({ maxDepth: 1 }) })
        .filter(({ k }) => !(k in base) && !['__proto__', 'constructor', 'prototype'].includes(k))
        .map(({ k, v }): CommandCase => ({
          kind: 'bad-args',
          op,
          args: { ...base, [k]: v },
          field: k,
          unknownKey: true,
        }));
      if (t.paths.length === 0) return withKey;
      const path = t.paths[p % t.paths.length] ?? '';
      const current = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], base);
      return fc.oneof(
        withKey,
        wrongTypeFor(current).map((v): CommandCase => ({
          kind: 'bad-args',
          op,
          args: setPath(base, path, v),
          field: path,
        })),
      );
    }),
  fc
    .record({ op: fc.constantFrom(...Object.keys(VALID_ARGS)), i: fc.nat() })
    .map(({ op, i }): CommandCase => {
      const valid = VALID_ARGS[op] ?? [{}];
      return { kind: 'valid', op, args: valid[i % valid.length] ?? {} };
    }),
  hostileSpec.chain((s) =>
    fc
      .constantFrom('host.plan', 'host.apply')
      .map((op): CommandCase => ({ kind: 'valid', op, args: { spec: s } })),
  ),
  anyArgs.chain((args) => fc.constantFrom(...KNOWN).map((op): CommandCase => ({ kind: 'valid', op, args }))),
);

const command = {
  type: 'command',
  id: 'c-1',
  hostId: HOST_ID,
  op: 'ping',
  args: {},
  issuedAt: 1,
  expiresAt: 2,
};
const TEMPLATES = [
  template(command),
  template({ type: 'cancel', id: 'c-1' }),
  template({ type: 'heartbeat', seq: 1, sentAt: 1 }),
  template({ type: 'error', error: { code: 'io_error', message: 'm', retryable: false } }),
];

/** path -> sha256, mode, and link target, of every entry under dir */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const p = join(d, name);
      const st = await lstat(p);
      const rel = `/${relative(dir, p)}`;
      if (st.isSymbolicLink()) out.set(rel, `link:${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir:${st.mode.toString(8)}`);
        await walk(p);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
        out.set(rel, `file:${st.mode.toString(8)}:${hash}`);
      }
    }
  };
  await walk(dir);
  return out;
}

function changedPaths(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k));
}

describe('live fuzzing of a running agent', () => {
  let fake: FakeController;
  let agent: AgentHandle;
  let work: string;
  let outside: string;
  let callsLog: string;
  let journalDir: string;
  let seq = 0;

  const calls = async (): Promise<string[]> =>
    (await readFile(callsLog, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

  /** the frames the agent sent on a connection since index `from` */
  const since = (from: number, conn: number): Array<Record<string, unknown>> =>
    fake.received
      .slice(from)
      .filter((r) => r.conn === conn)
      .map((r) => r.frame);

  const alive = (): void => {
    expect(agent.proc.proc.exitCode, agent.proc.output().slice(-2000)).toBeNull();
    expect(agent.proc.proc.signalCode).toBeNull();
  };

  beforeAll(async () => {
    work = await tempDir('fuzz-agent');
    outside = join(work, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'canary'), 'untouched\n');
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    callsLog = join(work, 'calls.log');
    for (const name of STUBS) {
      // shell built-ins only: nothing real ever runs
      await writeFile(join(bin, name), `#!/bin/sh\necho "\${0##*/} $*" >> '${callsLog}'\nexit 0\n`, {
        mode: 0o755,
      });
    }
    fake = await startFakeController({ hostId: HOST_ID, hostName: 'fuzz-host' });
    const hostRoot = await makeHostRoot('fuzz-host', { '/etc/kubernetes/manifests/.keep': '' });
    // S16: a directory link inside an allowed directory that leads out of the host root
    await symlink(outside, join(hostRoot, 'etc/kubernetes/escape'));
    agent = await startAgentProcess({
      name: 'fuzz-host',
      controller: { url: fake.url, caPin: fake.caPin } as ControllerHandle,
      token: 'abcdef.0123456789abcdef',
      hostRoot,
      heartbeatIntervalMs: 1000,
      extra: { programPath: [bin], logLevel: 'info' },
    });
    journalDir = join(agent.stateDir, 'state', 'journal');
    await fake.session(30_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await fake?.close();
    await cleanup([work, agent.stateDir, agent.hostRoot]);
  });

  it(
    'never crashes, answers every command with a typed result, runs no unknown op, writes only inside its allow-list',
    { timeout: 150_000 },
    async () => {
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            { arbitrary: commandCase.map((c) => ({ command: c })), weight: 3 },
            { arbitrary: hostileCase(TEMPLATES, { session: false }).map((h) => ({ hostile: h })), weight: 2 },
          ),
          async (c: { command?: CommandCase; hostile?: HostileCase }) => {
            if (c.hostile) {
              const text = wireText(c.hostile.wire);
              // a frame the agent must accept is the command generator's business
              if (text !== undefined && wireBytes(c.hostile.wire) <= MAX_FRAME_BYTES)
                fc.pre(!parseJson(text, ControllerFrame).ok);
            }
            const label = c.command ? `${c.command.kind}` : `frame-${c.hostile?.category ?? ''}`;
            seen.set(label, (seen.get(label) ?? 0) + 1);
            const rootBefore = await tree(agent.hostRoot);
            const outsideBefore = await tree(outside);
            const callsBefore = (await calls()).length;
            const { ws, conn } = await fake.session();
            const from = fake.received.length;

            if (c.command) {
              const id = `c-${seed}-${++seq}`;
              const now = Date.now();
              ws.send(
                JSON.stringify({
                  type: 'command',
                  id,
                  hostId: c.command.kind === 'foreign' ? c.command.hostId : HOST_ID,
                  op: c.command.op,
                  args: c.command.args,
                  issuedAt: now,
                  // an expiry at or before the agent's now; the boundary itself is expired (S3144)
                  expiresAt: c.command.kind === 'expired' ? now - c.command.ageMs : now + 60_000,
                }),
              );
              if (!OpName.safeParse(c.command.op).success) {
                // a name outside the op grammar is refused with its frame, before any lookup
                const code = await waitFor(
                  'agent closes the connection',
                  () => Promise.resolve(fake.closeCode(conn)),
                  15_000,
                  10,
                );
                expect(code).toBe(1008);
                const errors = since(from, conn).filter((f) => f.type === 'error');
                expect(errors.map((f) => ErrorFrame.parse(f).error.message).join('\n')).toContain(
                  'op: must be a dotted op name',
                );
                await expect(readFile(join(journalDir, `${id}.json`))).rejects.toThrow();
                await fake.session();
                // the only program since: the facts of the new hello
                const since_ = (await calls()).slice(callsBefore);
                expect(since_.filter((l) => l !== 'kubelet --version')).toEqual([]);
              } else {
                const reply = await waitFor(
                  `result for ${id}`,
                  () => Promise.resolve(since(from, conn).find((f) => f.type === 'result' && f.id === id)),
                  30_000,
                  10,
                ).catch((err: Error) => {
                  throw new Error(
                    `${err.message}; connection ${conn} closed with ${fake.closeCode(conn)}; agent said:\n${agent.proc.output().slice(-3000)}`,
                  );
                });
                const result = ResultFrame.parse(reply);
                const outcome = Outcome.parse(result.outcome);
                if (!outcome.ok) {
                  expect(ErrorCode.options).toContain(outcome.error.code);
                  expect(outcome.error.message.length).toBeGreaterThan(0);
                }
                const k = c.command.kind;
                if (k === 'unknown-op') {
                  expect(outcome).toMatchObject({ ok: false, error: { code: 'unknown_op' } });
                  expect(outcome.ok ? '' : outcome.error.message).toContain(JSON.stringify(c.command.op));
                  // never journaled, never ran a program
                  await expect(readFile(join(journalDir, `${id}.json`))).rejects.toThrow();
                  expect((await calls()).length).toBe(callsBefore);
                } else if (k === 'foreign' || k === 'expired') {
                  expect(outcome).toMatchObject({
                    ok: false,
                    error: { code: k === 'foreign' ? 'command_foreign_host' : 'command_expired' },
                  });
                  await expect(readFile(join(journalDir, `${id}.json`))).rejects.toThrow();
                  expect((await calls()).length).toBe(callsBefore);
                } else if (k === 'bad-args') {
                  expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
                  const message = outcome.ok ? '' : outcome.error.message;
                  expect(message).toContain(c.command.op);
                  // a wrong value is named by its path, an extra key by its name
                  expect(message, c.command.field).toContain(
                    c.command.unknownKey
                      ? `args: Unrecognized key: "${c.command.field}"`
                      : `args.${c.command.field.split('.')[0] ?? ''}`,
                  );
                  await expect(readFile(join(journalDir, `${id}.json`))).rejects.toThrow();
                  expect((await calls()).length).toBe(callsBefore);
                } else if (outcome.ok) {
                  // a value the controller could not parse would be a protocol bug too
                  const schema = Ops[c.command.op as keyof typeof Ops].result;
                  expect(
                    schema.safeParse(outcome.value).success,
                    JSON.stringify(outcome.value).slice(0, 500),
                  ).toBe(true);
                }
              }
            } else if (c.hostile) {
              const w = c.hostile.wire;
              if (w.kind === 'text') ws.send(w.data);
              else if (w.kind === 'rawText') ws.send(w.data, { binary: false });
              else if (w.kind === 'binary') ws.send(w.data, { binary: true });
              else w.parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === w.parts.length - 1 }));
              const code = await waitFor(
                'agent closes the connection',
                () => Promise.resolve(fake.closeCode(conn)),
                15_000,
                10,
              );
              if (wireBytes(w) > MAX_FRAME_BYTES) expect(code, label).toBe(1009);
              else if (w.kind === 'rawText') expect(code, label).toBe(1007);
              // ws itself refuses a message in too many pieces (S10), before any frame is parsed
              else if (w.kind === 'fragments' && w.parts.length > MAX_WS_FRAGMENTS)
                expect(code, label).toBe(1008);
              else {
                expect(code, label).toBe(1008);
                const errors = since(from, conn).filter((f) => f.type === 'error');
                expect(errors, label).toHaveLength(1);
                const e = ErrorFrame.parse(errors[0]);
                expect(ErrorCode.options).toContain(e.error.code);
                if (c.hostile.field) expect(e.error.message).toContain(c.hostile.field.split('.')[0]);
              }
              // it comes back
              await fake.session();
            }

            alive();
            // nothing changed outside the allow-list (sysctl values are the one kernel interface it writes)
            const rootAfter = await tree(agent.hostRoot);
            const changed = changedPaths(rootBefore, rootAfter).filter(
              (p) =>
                !isInsideAllowlist(p) &&
                !p.startsWith('/proc/sys/') &&
                // a missing parent of an allowed directory may be created, as a directory and nothing else
                !(
                  rootBefore.get(p) === undefined &&
                  rootAfter.get(p)?.startsWith('dir:') &&
                  WRITE_ALLOWLIST.some((a) => a.path.startsWith(`${p}/`))
                ),
            );
            expect(changed, label).toEqual([]);
            expect(await tree(outside)).toEqual(outsideBefore);
            // the journal stays readable: every entry parses
            for (const name of await readdir(journalDir)) {
              if (!name.endsWith('.json')) continue;
              const parsed = JournalEntry.safeParse(
                JSON.parse(await readFile(join(journalDir, name), 'utf8')),
              );
              expect(parsed.success, name).toBe(true);
            }
          },
        ),
        { numRuns: RUNS, seed, endOnFailure: true },
      );
      process.stderr.write(`live-agent cases: ${JSON.stringify(Object.fromEntries(seen))}\n`);
      alive();
      // programs ran only through stubs for ops it knows; every recorded call is one of them
      for (const line of await calls()) expect(STUBS).toContain(line.split(' ')[0]);
    },
  );
  it('writes an allowed file, and refuses a path outside the allow-list or through a link that leads out', async () => {
    const { ws, conn } = await fake.session();
    const from = fake.received.length;
    const passwd = await readFile(join(agent.hostRoot, 'etc/passwd')).catch(() => undefined);
    const id = `c-${seed}-escape`;
    const files = ['/etc/kubernetes/fuzz-ok.conf', '/etc/kubernetes/escape/pwned', '/etc/passwd'].map(
      (path) => ({
        path,
        content: 'fuzz\n',
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'command',
        id,
        hostId: HOST_ID,
        op: 'host.apply',
        args: { spec: { ...spec, files } },
        issuedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
      }),
    );
    const reply = await waitFor(
      `result for ${id}`,
      () => Promise.resolve(since(from, conn).find((f) => f.type === 'result' && f.id === id)),
      30_000,
      10,
    );
    const outcome = ResultFrame.parse(reply).outcome;
    const text = JSON.stringify(outcome);
    expect(text).toMatch(/path_not_allowed/);
    expect(await readFile(join(agent.hostRoot, 'etc/kubernetes/fuzz-ok.conf'), 'utf8')).toBe('fuzz\n');
    expect(await readdir(outside)).toEqual(['canary']);
    expect(await readFile(join(agent.hostRoot, 'etc/passwd')).catch(() => undefined)).toEqual(passwd);
    alive();
  });
});
