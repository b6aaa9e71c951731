import fc from 'fast-check';
import { MAX_FRAME_BYTES } from '../../proto/version.js';

/**
 * Hostile WebSocket messages for the live fuzz tests: what a compromised or broken peer could send.
 * A message is text (a string, or raw bytes sent with the text opcode), binary, or split into
 * fragments. `expect` says how the receiver must end the connection.
 */
export type Wire =
  | { kind: 'text'; data: string }
  | { kind: 'rawText'; data: Buffer }
  | { kind: 'binary'; data: Buffer }
  | { kind: 'fragments'; parts: string[] };

export interface HostileCase {
  /** what generated it, for the failure report */
  category: string;
  /** send a valid hello first and wait for the welcome */
  session: boolean;
  wire: Wire;
  /** the field path the error must name, when the frame is JSON of the right shape with one bad field */
  field?: string;
}

/** Bytes the case puts on the wire (one message). */
export function wireBytes(w: Wire): number {
  switch (w.kind) {
    case 'text':
      return Buffer.byteLength(w.data);
    case 'rawText':
    case 'binary':
      return w.data.length;
    case 'fragments':
      return w.parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  }
}

/** The text the receiver reassembles, when it is text. */
export function wireText(w: Wire): string | undefined {
  if (w.kind === 'text') return w.data;
  if (w.kind === 'fragments') return w.parts.join('');
  return undefined;
}

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'] as const;

/** Puts `value` at a dotted path of a deep copy of `obj`. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  const keys = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys[keys.length - 1] ?? ''] = value;
  return copy;
}

/** A JSON value that is not `typeof like` (and not an integer where an integer is wanted). */
export const wrongTypeFor = (like: unknown): fc.Arbitrary<unknown> => {
  const candidates: fc.Arbitrary<unknown>[] = [
    fc.string({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
    fc.integer({ min: -1e9, max: -1 }),
    fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  ];
  return fc.oneof(...candidates).filter((v) => {
    if (typeof like === 'string') return typeof v !== 'string';
    if (typeof like === 'boolean') return typeof v !== 'boolean';
    if (typeof like === 'number') return !(typeof v === 'number' && Number.isInteger(v) && v >= 0);
    if (Array.isArray(like)) return !Array.isArray(v);
    if (like !== null && typeof like === 'object')
      return v === null || typeof v !== 'object' || Array.isArray(v);
    return true;
  });
};

/** A string of `n` 'x' characters wrapped so that the frame is `bytes` long in total. */
export function frameOfSize(bytes: number, prefix: string, suffix: string): string {
  const fill = Math.max(0, bytes - Buffer.byteLength(prefix) - Buffer.byteLength(suffix));
  return `${prefix}${'x'.repeat(fill)}${suffix}`;
}

/** Templates of well-formed frames, and the leaf paths a mutation may hit. */
export interface Template {
  frame: Record<string, unknown>;
  paths: string[];
}

function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return prefix ? [prefix] : [];
  const out: string[] = prefix ? [prefix] : [];
  for (const [k, v] of Object.entries(value)) out.push(...leafPaths(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

export function template(frame: Record<string, unknown>): Template {
  return { frame, paths: leafPaths(frame).filter((p) => p !== 'type') };
}

/**
 * The common hostile shapes, for a receiver whose valid frames are `templates`. Sizes go up to
 * twice the 1 MiB cap; `sessionCases` says whether a case may run after a valid hello.
 */
export function hostileCase(templates: Template[], options: { session: boolean }): fc.Arbitrary<HostileCase> {
  const session = options.session ? fc.boolean() : fc.constant(false);
  const tpl = fc.constantFrom(...templates);

  const randomJson = fc
    .record({ session, v: fc.jsonValue({ maxDepth: 4 }) })
    .map(({ session, v }): HostileCase => ({
      category: 'random-json',
      session,
      wire: { kind: 'text', data: JSON.stringify(v) ?? 'null' },
    }));

  const randomText = fc
    .record({ session, s: fc.string({ maxLength: 300, unit: 'binary' }) })
    .map(({ session, s }): HostileCase => ({
      category: 'random-text',
      session,
      wire: { kind: 'text', data: s },
    }));

  const wrongType = fc.record({ session, t: tpl, i: fc.nat() }).chain(({ session, t, i }) => {
    const path = t.paths[i % t.paths.length] ?? 'type';
    const current = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], t.frame);
    return wrongTypeFor(current).map((v): HostileCase => ({
      category: 'wrong-type',
      session,
      wire: { kind: 'text', data: JSON.stringify(setPath(t.frame, path, v)) },
      field: path,
    }));
  });

  const unknownKey = fc
    .record({
      session,
      t: tpl,
      key: fc.string({ minLength: 1, maxLength: 12 }),
      v: fc.jsonValue({ maxDepth: 1 }),
    })
    .filter(({ t, key }) => !(key in t.frame) && !FORBIDDEN.includes(key as (typeof FORBIDDEN)[number]))
    .map(({ session, t, key, v }): HostileCase => ({
      category: 'unknown-key',
      session,
      wire: { kind: 'text', data: JSON.stringify({ ...t.frame, [key]: v }) },
    }));

  const unknownType = fc
    .record({
      session,
      t: tpl,
      type: fc.oneof(
        fc.constantFrom('exec', 'shell', 'run', 'Hello', 'command ', 'welcome', 'cancel', ''),
        fc.string({ maxLength: 16 }),
      ),
    })
    .map(({ session, t, type }): HostileCase => ({
      category: 'unknown-type',
      session,
      wire: { kind: 'text', data: JSON.stringify({ ...t.frame, type }) },
    }));

  const deep = fc
    .record({
      session,
      t: tpl,
      depth: fc.integer({ min: 33, max: 20_000 }),
      open: fc.constantFrom('[', '{"a":'),
    })
    .map(({ session, t, depth, open }): HostileCase => {
      const close = open === '[' ? ']' : '}';
      const body = JSON.stringify({ ...t.frame, nested: null }).replace(
        '"nested":null',
        `"nested":${open.repeat(depth)}1${close.repeat(depth)}`,
      );
      return { category: 'deep-nesting', session, wire: { kind: 'text', data: body } };
    });

  const protoKey = fc
    .record({ session, t: tpl, key: fc.constantFrom(...FORBIDDEN), i: fc.nat() })
    .map(({ session, t, key, i }): HostileCase => {
      // at the top level, or inside an object-valued field
      const objects = [
        '',
        ...t.paths.filter((p) => {
          const v = p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], t.frame);
          return v !== null && typeof v === 'object' && !Array.isArray(v);
        }),
      ];
      const at = objects[i % objects.length] ?? '';
      const text = JSON.stringify(t.frame);
      const opener = at === '' ? '{' : `"${at.split('.').pop() ?? ''}":{`;
      const i0 = text.indexOf(opener) + opener.length;
      const inject = `"${key}":{"polluted":true}${text[i0] === '}' ? '' : ','}`;
      const data = `${text.slice(0, i0)}${inject}${text.slice(i0)}`;
      return { category: 'prototype-key', session, wire: { kind: 'text', data } };
    });

  const huge = fc
    .record({
      session,
      t: tpl,
      delta: fc.oneof(fc.integer({ min: -64, max: 64 }), fc.integer({ min: -4096, max: MAX_FRAME_BYTES })),
    })
    .map(({ session, t, delta }): HostileCase => {
      const text = JSON.stringify({ ...t.frame, pad: '' });
      const [prefix, suffix] = text.split('"pad":""') as [string, string];
      return {
        category: 'huge',
        session,
        wire: { kind: 'text', data: frameOfSize(MAX_FRAME_BYTES + delta, `${prefix}"pad":"`, `"${suffix}`) },
      };
    });

  const binary = fc
    .record({ session, bytes: fc.uint8Array({ maxLength: 512 }), t: tpl })
    .chain(({ session, bytes, t }) =>
      fc
        .constantFrom(Buffer.from(bytes), Buffer.from(JSON.stringify(t.frame)))
        .map((data): HostileCase => ({ category: 'binary', session, wire: { kind: 'binary', data } })),
    );

  const invalidUtf8 = fc
    .record({
      session,
      t: tpl,
      bad: fc.constantFrom(
        [0xff],
        [0xc0, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xf8, 0x88, 0x80, 0x80, 0x80],
        [0xe2, 0x82],
      ),
    })
    .map(({ session, t, bad }): HostileCase => {
      const text = JSON.stringify(t.frame);
      const cut = Math.floor(text.length / 2);
      return {
        category: 'invalid-utf8',
        session,
        wire: {
          kind: 'rawText',
          data: Buffer.concat([
            Buffer.from(text.slice(0, cut)),
            Buffer.from(bad),
            Buffer.from(text.slice(cut)),
          ]),
        },
      };
    });

  const fragmented = fc
    .record({
      session,
      inner: fc.oneof(randomJson, wrongType, unknownType, protoKey),
      pieces: fc.oneof(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 65, max: 300 })),
    })
    .map(({ session, inner, pieces }): HostileCase => {
      const text = wireText(inner.wire) ?? '';
      const size = Math.max(1, Math.ceil(text.length / pieces));
      const parts: string[] = [];
      for (let i = 0; i < pieces; i++) parts.push(text.slice(i * size, (i + 1) * size));
      return {
        ...inner,
        category: `fragmented-${inner.category}`,
        session,
        wire: { kind: 'fragments', parts },
      };
    });

  return fc.oneof(
    { arbitrary: randomJson, weight: 3 },
    { arbitrary: randomText, weight: 2 },
    { arbitrary: wrongType, weight: 4 },
    { arbitrary: unknownKey, weight: 2 },
    { arbitrary: unknownType, weight: 2 },
    { arbitrary: deep, weight: 2 },
    { arbitrary: protoKey, weight: 2 },
    { arbitrary: huge, weight: 1 },
    { arbitrary: binary, weight: 1 },
    { arbitrary: invalidUtf8, weight: 1 },
    { arbitrary: fragmented, weight: 2 },
  );
}

/** The fuzz seed: FUZZ_SEED when set (to replay a failure), else a fresh one; always printed. */
export function fuzzSeed(name: string): number {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  process.stderr.write(`${name}: fast-check seed ${seed} (replay with FUZZ_SEED=${seed})\n`);
  return seed;
}
