import { describe, expect, it } from 'vitest';
import { AgentFrame, ControllerFrame, parseJson } from './wire.js';
import { MAX_FRAME_BYTES } from './version.js';

const facts = {
  hostname: 'cp-1',
  machineId: '0123456789abcdef0123456789abcdef',
  productUuid: '4c4c4544-0000-1000-8000-000000000000',
  macs: ['52:54:00:12:34:56'],
  ips: ['10.0.0.5'],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  kernel: '6.1.0-27-amd64',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 4_123_000_000,
  cgroupVersion: 2,
};

const agentFrames = [
  { type: 'hello', protocolVersion: 1, agentVersion: '0.1.0', facts },
  { type: 'heartbeat', seq: 3, sentAt: 1_700_000_000_000 },
  {
    type: 'progress',
    id: 'c-1',
    message: 'writing /etc/sysctl.d/99-kctl.conf',
    stepId: 'sysctl',
    fraction: 0.5,
  },
  { type: 'result', id: 'c-1', replayed: false, outcome: { ok: true, value: { pong: true } } },
  {
    type: 'result',
    id: 'c-1',
    replayed: true,
    outcome: { ok: false, error: { code: 'unknown_op', message: 'x', retryable: false } },
  },
  { type: 'error', inReplyTo: 'c-1', error: { code: 'invalid_frame', message: 'bad', retryable: false } },
];

const controllerFrames = [
  {
    type: 'welcome',
    protocolVersion: 1,
    controllerVersion: '0.1.0',
    hostId: 'h-1',
    hostName: 'cp-1',
    heartbeatIntervalMs: 10000,
  },
  { type: 'heartbeat', seq: 0, sentAt: 1 },
  {
    type: 'command',
    id: 'c-1',
    hostId: 'h-1',
    op: 'host.apply',
    args: { spec: {} },
    issuedAt: 1,
    expiresAt: 2,
    planHash: `sha256:${'a'.repeat(64)}`,
  },
  { type: 'cancel', id: 'c-1' },
];

describe('wire frames', () => {
  it.each(agentFrames)('agent frame $type round-trips through JSON and the schema', (frame) => {
    const r = parseJson(JSON.stringify(frame), AgentFrame);
    expect(r).toEqual({ ok: true, value: frame });
  });

  it.each(controllerFrames)('controller frame $type round-trips through JSON and the schema', (frame) => {
    const r = parseJson(JSON.stringify(frame), ControllerFrame);
    expect(r).toEqual({ ok: true, value: frame });
  });

  it.each([
    ['an unknown type', { type: 'exec', cmd: 'id' }, /type/],
    ['an unknown key', { type: 'heartbeat', seq: 1, sentAt: 1, extra: true }, /extra/],
    ['a wrong type', { type: 'heartbeat', seq: 'one', sentAt: 1 }, /seq/],
    ['a negative sequence', { type: 'heartbeat', seq: -1, sentAt: 1 }, /seq/],
    [
      'a hello with facts missing a field',
      { type: 'hello', protocolVersion: 1, agentVersion: '1', facts: { ...facts, kernel: undefined } },
      /facts\.kernel/,
    ],
    ['an id with a path in it', { type: 'progress', id: '../../etc/passwd', message: 'x' }, /id/],
  ])('rejects %s and names the field', (_what, frame, field) => {
    const r = parseJson(JSON.stringify(frame), AgentFrame);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('invalid_frame');
      expect(r.error.message).toMatch(field);
    }
  });

  it('rejects text that is not JSON', () => {
    const r = parseJson('{"type": "heartbeat",', AgentFrame);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_frame' } });
  });

  it.each(['__proto__', 'constructor', 'prototype'])('rejects a %s key anywhere before any merge', (key) => {
    const raw = `{"type":"result","id":"c","replayed":false,"outcome":{"ok":true,"value":{"a":{"${key}":{"polluted":1}}}}}`;
    const r = parseJson(raw, AgentFrame);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_frame' } });
    if (!r.ok) expect(r.error.message).toContain(key);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    [
      'in an array element',
      '{"type":"result","id":"c","replayed":false,"outcome":{"ok":true,"value":[1,{"__proto__":{"polluted":1}}]}}',
    ],
    ['at the top level', '{"__proto__":{"polluted":1},"type":"heartbeat","seq":1,"sentAt":1}'],
  ])('rejects a prototype key %s (the depth walk checks keys, no reviver)', (_where, raw) => {
    const r = parseJson(raw, AgentFrame);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_frame' } });
    if (!r.ok) expect(r.error.message).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects nesting deeper than the limit', () => {
    let value = '1';
    for (let i = 0; i < 100; i++) value = `[${value}]`;
    const raw = `{"type":"result","id":"c","replayed":false,"outcome":{"ok":true,"value":${value}}}`;
    const r = parseJson(raw, AgentFrame);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_frame' } });
    if (!r.ok) expect(r.error.message).toMatch(/nests deeper/);
  });

  it('rejects a frame over the size limit before parsing it', () => {
    const raw = JSON.stringify({ type: 'progress', id: 'c', message: 'x'.repeat(MAX_FRAME_BYTES) });
    const r = parseJson(raw, AgentFrame);
    expect(r).toMatchObject({ ok: false, error: { code: 'frame_too_large' } });
  });

  it('rejects a command without an expiry (S11)', () => {
    const { expiresAt: _drop, ...noExpiry } = controllerFrames[2] as Record<string, unknown>;
    const r = parseJson(JSON.stringify(noExpiry), ControllerFrame);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain('expiresAt');
  });
});
