import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from './parse.js';

const DOC = readFileSync(join(import.meta.dirname, '../../docs/cluster-yaml.md'), 'utf8');

/** Every ```yaml block of docs/cluster-yaml.md that is a whole cluster.yaml, with its line. */
const examples = [...DOC.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)]
  .filter((m) => /^apiVersion: kctl\.dev\/v1alpha1$/m.test(m[1] ?? ''))
  .map((m) => ({ line: DOC.slice(0, m.index).split('\n').length, text: m[1] ?? '' }));

function parsed(text: string): ClusterSpec {
  const r = parseClusterSpec(text, 'docs/cluster-yaml.md');
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return r.spec;
}

describe('docs/cluster-yaml.md', () => {
  it.each(examples.map((e) => [e.line, e.text] as const))(
    'the example at line %i parses with the schema and the cross-field rules',
    (_line, text) => {
      expect(() => parsed(text)).not.toThrow();
    },
  );

  it('has a whole example of every HA and etcd topology', () => {
    const specs = examples.map((e) => parsed(e.text));
    const topology = (s: ClusterSpec): string[] => {
      const lb = s.hosts.some((h) => h.role === 'lb');
      return [
        s.ha.mode === 'haproxy-keepalived'
          ? `haproxy-keepalived on ${lb ? 'lb hosts' : 'control planes'}`
          : s.ha.mode,
        `etcd ${s.etcd.mode}`,
      ];
    };
    const shown = new Set(specs.flatMap(topology));
    for (const want of [
      'kube-vip',
      'external-lb',
      'haproxy-keepalived on control planes',
      'haproxy-keepalived on lb hosts',
      'etcd stacked',
      'etcd managed',
      'etcd external',
    ])
      expect(shown, want).toContain(want);
  });

  it('documents in its Fields table every field the schema has under ha: and etcd:', () => {
    const table = DOC.slice(DOC.indexOf('## Fields'), DOC.indexOf('### Field syntax'));
    const keysOf = (union: { options: ReadonlyArray<{ shape: Record<string, unknown> }> }): string[] => [
      ...new Set(union.options.flatMap((o) => Object.keys(o.shape))),
    ];
    const fields = [
      ...keysOf(ClusterSpec.shape.ha.unwrap()).map((k) => `ha.${k}`),
      ...keysOf(ClusterSpec.shape.etcd.unwrap()).map((k) => `etcd.${k}`),
    ];
    expect(fields).toContain('etcd.clientKey');
    expect(fields.filter((f) => !table.includes(`\`${f}\``))).toEqual([]);
  });
});
