import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from './logging.js';

function capture(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => out };
}

describe('logger', () => {
  it('writes JSON lines with bound context', () => {
    const c = capture();
    const log = createLogger({ name: 'test', destination: c.stream, pretty: false }).child({
      hostId: 'h-1',
      commandId: 'c-1',
    });
    log.info({ stepId: 'sysctl' }, 'step applied');
    const line = JSON.parse(c.text()) as Record<string, unknown>;
    expect(line).toMatchObject({
      name: 'test',
      hostId: 'h-1',
      commandId: 'c-1',
      stepId: 'sysctl',
      msg: 'step applied',
    });
  });

  it.each([
    [{ token: 'abcdef.0123456789abcdef' }],
    [{ args: { token: 'abcdef.0123456789abcdef' } }],
    [{ join: { certificateKey: 'a'.repeat(64) } }],
    [{ identity: { keyPem: '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----' } }],
  ])('redacts secrets in %j (S19)', (fields) => {
    const c = capture();
    createLogger({ name: 'test', destination: c.stream, pretty: false }).info(fields, 'event');
    expect(c.text()).not.toMatch(/0123456789abcdef|a{64}|MIGH/);
    expect(c.text()).toContain('[redacted]');
  });
});
