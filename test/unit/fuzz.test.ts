import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { AgentFrame, ControllerFrame, parseJson } from '../../proto/wire.js';
import { ErrorCode } from '../../proto/errors.js';
import { parseClusterSpec } from '../../controller/spec/parse.js';
import { parseTokenString } from '../../controller/tokens.js';
import { signAgentCsr, createCa } from '../../controller/pki.js';

/** Hostile input never crashes a parser: it gets a typed error that says where. */
describe('fuzzing', () => {
  it('wire frames: any JSON value or text is parsed or refused with a typed error, never thrown', () => {
    const frame = fc.oneof(
      fc.json({ depthSize: 'medium' }),
      fc.string({ maxLength: 2000 }),
      fc
        .record({
          type: fc.constantFrom(
            'hello',
            'heartbeat',
            'result',
            'command',
            'progress',
            'error',
            'cancel',
            'exec',
          ),
          id: fc.string(),
        })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(frame, (raw) => {
        for (const r of [parseJson(raw, AgentFrame), parseJson(raw, ControllerFrame)]) {
          if (!r.ok) {
            expect(ErrorCode.options).toContain(r.error.code);
            expect(r.error.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('wire frames: deep nesting and prototype keys are refused', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 33, max: 2000 }),
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        (depth, key) => {
          const deep = `{"type":"result","id":"c","replayed":false,"outcome":{"ok":true,"value":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
          expect(parseJson(deep, AgentFrame).ok).toBe(false);
          const proto = `{"type":"result","id":"c","replayed":false,"outcome":{"ok":true,"value":{"${key}":{"x":1}}}}`;
          expect(parseJson(proto, AgentFrame).ok).toBe(false);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('cluster.yaml: random documents are accepted or refused with a path on every error', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)),
      node: fc.oneof(
        { depthSize: 'small' },
        tie('leaf'),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 12 }), tie('node'), { maxKeys: 5 }),
      ),
    }));
    const keys = fc.constantFrom(
      'apiVersion',
      'kind',
      'name',
      'kubernetesVersion',
      'controlPlaneEndpoint',
      'ha',
      'networking',
      'kubeProxy',
      'hosts',
      'cni',
      'packages',
      'extra',
    );
    fc.assert(
      fc.property(fc.dictionary(keys, value.node, { maxKeys: 10 }), (doc) => {
        const r = parseClusterSpec(toYaml(doc));
        if (!r.ok) for (const e of r.errors) expect(e.path.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('tokens: any string is parsed only when it has the kubeadm format', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const valid = /^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(s);
        if (valid) expect(parseTokenString(s).id).toBe(s.slice(0, 6));
        else expect(() => parseTokenString(s)).toThrow(/token/);
      }),
      { numRuns: 500 },
    );
  });

  it('CSRs: random bytes in PEM armour are refused as csr_invalid', async () => {
    const ca = await createCa({ commonName: 'fuzz' });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 600 }), async (bytes) => {
        const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(bytes).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
        await expect(signAgentCsr(ca, pem, { hostId: 'h' })).rejects.toMatchObject({ code: 'csr_invalid' });
      }),
      { numRuns: 100 },
    );
  });
});
