import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { z } from 'zod';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { HttpUrl, HttpsUrl, hasControlCharacters, quoteInput } from '../../proto/validators.js';
import { parseClusterSpec, specPath } from '../../controller/spec/parse.js';

/**
 * Every URL-typed field of cluster.yaml, found by walking the schema (a new one is covered without
 * touching this file), fed URL-ish and broken strings. Regression for issue 12, finding 5: a mirror
 * URL such as `https://[::1` passed the schema and the plan then failed with HTTP 500 "Invalid URL".
 * Either the file is refused at the field's path with the input named, or the URL parses.
 */

type Step =
  | { kind: 'key'; key: string; siblings: Record<string, unknown> }
  | { kind: 'record'; key: string }
  | { kind: 'index' };

interface UrlField {
  steps: Step[];
  protocols: string[];
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  values?: unknown[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

const RECORD_KEYS = ['docker.io', 'x', 'a.b'];

function urlFields(schema: z.ZodType, steps: Step[] = [], out: UrlField[] = []): UrlField[] {
  if (schema === HttpUrl) out.push({ steps, protocols: ['https:', 'http:'] });
  if (schema === HttpsUrl) out.push({ steps, protocols: ['https:'] });
  const def = defOf(schema);
  switch (def.type) {
    case 'default':
    case 'optional':
    case 'nullable':
      if (def.innerType) urlFields(def.innerType, steps, out);
      break;
    case 'pipe':
      if (def.in) urlFields(def.in, steps, out);
      break;
    case 'union':
      for (const o of def.options ?? []) urlFields(o, steps, out);
      break;
    case 'object': {
      const shape = def.shape ?? {};
      // a discriminated union's option is chosen by its literal fields: set them alongside
      const siblings = Object.fromEntries(
        Object.entries(shape)
          .filter(([, v]) => defOf(v).type === 'literal')
          .map(([k, v]) => [k, defOf(v).values?.[0]]),
      );
      for (const [key, v] of Object.entries(shape))
        urlFields(v, [...steps, { kind: 'key', key, siblings }], out);
      break;
    }
    case 'record': {
      const key = RECORD_KEYS.find((k) => def.keyType?.safeParse(k).success);
      if (key !== undefined && def.valueType)
        urlFields(def.valueType, [...steps, { kind: 'record', key }], out);
      break;
    }
    case 'array':
      if (def.element) urlFields(def.element, [...steps, { kind: 'index' }], out);
      break;
    default:
  }
  return out;
}

function pathOf(field: UrlField): string {
  return specPath(field.steps.map((s) => (s.kind === 'index' ? 0 : s.key)));
}

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
/** Fields a URL field's object also requires (by the URL field's key), valid, so only the URL is judged. */
const REQUIRED_BESIDE: Record<string, Record<string, unknown>> = {
  // etcd: {mode: external, endpoints: [...]} needs the client credentials too
  endpoints: {
    caCert: PEM_CERT,
    clientCert: PEM_CERT,
    clientKey: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
  },
};

/** The minimal cluster.yaml with `value` placed at the field (and its union's literal set). */
function documentWith(field: UrlField, value: string): Record<string, unknown> {
  const doc = parseYaml(
    readFileSync(join(import.meta.dirname, '../fixtures/cluster/minimal.yaml'), 'utf8'),
  ) as Record<string, unknown>;
  let cur: unknown = doc;
  field.steps.forEach((step, i) => {
    const next = field.steps[i + 1];
    const child = next === undefined ? value : next.kind === 'index' ? [] : {};
    if (step.kind === 'index') {
      (cur as unknown[])[0] = child;
    } else {
      const obj = cur as Record<string, unknown>;
      if (step.kind === 'key') Object.assign(obj, step.siblings, REQUIRED_BESIDE[step.key]);
      obj[step.key] = child;
    }
    cur = child;
  });
  return doc;
}

const fields = urlFields(ClusterSpec);

const INSERTS = ['\n', ' ', '"', '\u0000', '$(x)', '[', ']', '%', '%zz', 'е', ':99999', '@', '#', '\\', '\t'];
const urlish = fc.oneof(
  fc.webUrl({ withQueryParameters: true }),
  fc.webUrl().map((u) => u.replace('://', '://[')),
  fc
    .tuple(
      fc.constantFrom('https://', 'http://', 'ftp://', 'https://[', 'https://[::1', '', 'https:', 'HTTPS://'),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    )
    .map(([a, b]) => a + b),
  fc
    .tuple(fc.webUrl(), fc.nat(), fc.constantFrom(...INSERTS))
    .map(([u, i, c]) => u.slice(0, i % (u.length + 1)) + c + u.slice(i % (u.length + 1))),
  fc.constantFrom(
    'https://[::1',
    'https://[::1]:5000',
    'http://x:65536',
    'https://a b',
    'https://',
    'https://u:p@x',
  ),
);

describe('URL-typed fields of cluster.yaml', () => {
  it('are found by walking the schema', () => {
    expect(fields.map(pathOf).sort()).toEqual([
      'etcd.endpoints[0]',
      'packages.url',
      'runtime.containerd.registryMirrors.docker.io[0]',
    ]);
  });

  it.each(fields.map((f) => [pathOf(f), f] as const))(
    '%s: any string is refused at that path with the input named, or parses as a URL',
    (path, field) => {
      fc.assert(
        fc.property(urlish, (value) => {
          const r = parseClusterSpec(toYaml(documentWith(field, value)));
          if (r.ok) {
            const url = new URL(value); // what the renderers do later; must not throw
            expect(field.protocols).toContain(url.protocol);
            expect(hasControlCharacters(value) || /[\s"\\]/.test(value)).toBe(false);
            return;
          }
          expect(r.errors.map((e) => e.path)).toEqual([path]);
          expect(r.errors[0]?.message.startsWith(quoteInput(value))).toBe(true);
        }),
        { numRuns: 400 },
      );
    },
  );

  it.each([
    ['https://[::1', /"https:\/\/\[::1" is not a valid URL/],
    ['https://mirror.example/a b', /printable ASCII/],
  ])('refuses the mirror %j naming the field', (value, message) => {
    const field = fields.find((f) => pathOf(f).startsWith('runtime.'));
    if (!field) throw new Error('no registry mirror field');
    const r = parseClusterSpec(toYaml(documentWith(field, value)));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors[0]?.path).toBe('runtime.containerd.registryMirrors.docker.io[0]');
      expect(r.errors[0]?.message).toMatch(message);
    }
  });
});
