import { LineCounter, isAlias, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { ClusterSpec, type SpecIssue } from '../../proto/cluster-spec.js';
import { crossFieldRules } from './rules.js';

export { crossFieldRules } from './rules.js';

export type SpecParse =
  | { ok: true; spec: ClusterSpec; warnings: SpecIssue[] }
  | { ok: false; errors: SpecIssue[]; warnings: SpecIssue[] };

/** `hosts[2].role` from zod's ['hosts', 2, 'role']; `(root)` for the document itself. */
export function specPath(parts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(root)' : out;
}

/** One issue per offending field: an unknown key is reported at its own path, not its parent's. */
export function specIssuesOf(error: z.ZodError): SpecIssue[] {
  return error.issues.flatMap((i): SpecIssue[] => {
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((key) => ({ path: specPath([...i.path, key]), message: 'unknown field' }));
    }
    if (i.code === 'invalid_key') {
      return [{ path: specPath(i.path), message: `key ${i.issues[0]?.message ?? i.message}` }];
    }
    if (i.code === 'invalid_type' && i.message.endsWith('received undefined')) {
      return [{ path: specPath(i.path), message: `is required (${i.expected})` }];
    }
    return [{ path: specPath(i.path), message: i.message }];
  });
}

/**
 * cluster.yaml text -> a validated spec, or every problem with its path. Anchors and aliases are
 * refused (no billion laughs, and what you read is what kctl reads); YAML errors carry
 * `source:line:column`; unknown keys are errors; the cross-field rules run after the schema.
 */
export function parseClusterSpec(text: string, source = 'cluster.yaml'): SpecParse {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const at = (offset: number | undefined): string => {
    const pos = lineCounter.linePos(offset ?? 0);
    return `${source}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ path: at(e.pos[0]), message: e.message.split('\n')[0] ?? e.message })),
      warnings: [],
    };
  }
  const refused: SpecIssue[] = [];
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        refused.push({ path: at(node.range?.[0]), message: `YAML alias *${node.source} is not allowed` });
      } else if (node.anchor !== undefined) {
        refused.push({ path: at(node.range?.[0]), message: `YAML anchor &${node.anchor} is not allowed` });
      }
    },
  });
  if (refused.length > 0) return { ok: false, errors: refused, warnings: [] };

  // maxAliasCount 0 is a second lock on the same door: toJS throws on any alias
  const data: unknown = doc.toJS({ maxAliasCount: 0 });
  const parsed = ClusterSpec.safeParse(data ?? {});
  if (!parsed.success) return { ok: false, errors: specIssuesOf(parsed.error), warnings: [] };
  const { errors, warnings } = crossFieldRules(parsed.data);
  return errors.length > 0 ? { ok: false, errors, warnings } : { ok: true, spec: parsed.data, warnings };
}
