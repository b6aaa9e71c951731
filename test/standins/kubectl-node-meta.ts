import type { NodeRecord } from './cluster-state.js';
import { StandinExit } from './standin-env.js';

/**
 * `kubectl label|annotate|taint node NAME ...` of the kubectl stand-in, as pure changes to a node
 * record with kubectl's messages: `k=v` sets (an existing different value only with --overwrite),
 * `k-` removes; taints are `key[=value]:Effect`, removed as `key:Effect-` or `key-` (every effect).
 */

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

// apimachinery's IsQualifiedName and IsValidLabelValue, written out here rather than shared with kctl
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
function isK8sLabelKey(s: string): boolean {
  const i = s.indexOf('/');
  const prefix = i === -1 ? undefined : s.slice(0, i);
  const name = i === -1 ? s : s.slice(i + 1);
  if (
    prefix !== undefined &&
    (prefix.length > 253 || !prefix.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l)))
  )
    return false;
  return name.length <= 63 && NAME.test(name);
}
const isK8sLabelValue = (s: string): boolean => s === '' || (s.length <= 63 && NAME.test(s));

type Pairs = { set: Array<[string, string]>; remove: string[] };

function parsePairs(args: readonly string[], what: 'label' | 'annotation'): Pairs {
  const out: Pairs = { set: [], remove: [] };
  for (const a of args) {
    if (a.endsWith('-') && !a.includes('=')) {
      out.remove.push(a.slice(0, -1));
      continue;
    }
    const eq = a.indexOf('=');
    if (eq <= 0) throw new StandinExit(`error: at least one ${what} update is required`);
    const key = a.slice(0, eq);
    const value = a.slice(eq + 1);
    if (!isK8sLabelKey(key) || (what === 'label' && !isK8sLabelValue(value)))
      throw new StandinExit(`error: invalid ${what} spec: ${a}`);
    out.set.push([key, value]);
  }
  if (out.set.length + out.remove.length === 0)
    throw new StandinExit(`error: at least one ${what} update is required`);
  return out;
}

/** Applies label or annotation updates to a map; returns kubectl's output line. */
export function updateMap(
  node: NodeRecord,
  map: Record<string, string>,
  args: readonly string[],
  overwrite: boolean,
  what: 'label' | 'annotation',
): { lines: string[]; errors: string[] } {
  const { set, remove } = parsePairs(args, what);
  for (const [k, v] of set) {
    const now = map[k];
    if (now !== undefined && now !== v && !overwrite)
      throw new StandinExit(`error: '${k}' already has a value (${now}), and --overwrite is false`);
  }
  const errors: string[] = [];
  let changed = false;
  for (const [k, v] of set) {
    if (map[k] !== v) changed = true;
    map[k] = v;
  }
  for (const k of remove) {
    if (k in map) {
      delete map[k];
      changed = true;
    } else errors.push(`${what} "${k}" not found.`);
  }
  const verb = what === 'label' ? (changed ? 'labeled' : 'not labeled') : 'annotated';
  return { lines: [`node/${node.name} ${verb}`], errors };
}

interface TaintSpec {
  key: string;
  value?: string;
  effect: string;
}

function parseTaintArg(a: string): { add?: TaintSpec; remove?: { key: string; effect?: string } } {
  if (a.endsWith('-')) {
    const body = a.slice(0, -1);
    const [key = '', effect] = body.split(':');
    if (!isK8sLabelKey(key) || (effect !== undefined && !EFFECTS.includes(effect)))
      throw new StandinExit(`error: invalid taint spec: ${a}`);
    return { remove: { key, ...(effect !== undefined ? { effect } : {}) } };
  }
  const m = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(a);
  const [, key = '', value, effect = ''] = m ?? [];
  if (!m || !isK8sLabelKey(key) || (value !== undefined && !isK8sLabelValue(value)))
    throw new StandinExit(
      `error: invalid taint spec: ${a}, ${a.includes(':') ? 'invalid key or value' : 'unknown taint spec'}`,
    );
  if (!EFFECTS.includes(effect))
    throw new StandinExit(
      `error: invalid taint spec: ${a}, invalid taint effect: ${effect}, unsupported taint effect`,
    );
  return { add: { key, ...(value ? { value } : {}), effect } };
}

/** `kubectl taint node NAME ...`; throws kubectl's errors, with nothing changed. */
export function taintNode(node: NodeRecord, args: readonly string[], overwrite: boolean): string[] {
  if (args.length === 0) throw new StandinExit('error: at least one taint update is required');
  const parsed = args.map(parseTaintArg);
  const taints = node.taints.map((t) => ({ ...t }));
  let removed = false;
  for (const p of parsed) {
    const r = p.remove;
    if (!r) continue;
    const before = taints.length;
    const keep = taints.filter(
      (t) => !(t.key === r.key && (r.effect === undefined || t.effect === r.effect)),
    );
    if (keep.length === before)
      throw new StandinExit(
        `error: taint ${JSON.stringify(r.effect ? `${r.key}:${r.effect}` : r.key)} not found`,
      );
    taints.splice(0, taints.length, ...keep);
    removed = true;
  }
  let added = false;
  for (const p of parsed) {
    const t = p.add;
    if (!t) continue;
    const i = taints.findIndex((x) => x.key === t.key && x.effect === t.effect);
    if (i >= 0 && !overwrite)
      throw new StandinExit(
        `error: node ${node.name} already has ${t.key} taint(s) with same effect(s) and --overwrite is false`,
      );
    if (i >= 0) taints[i] = t;
    else taints.push(t);
    added = true;
  }
  node.taints = taints;
  return [
    `node/${node.name} ${added && !removed ? 'tainted' : !added && removed ? 'untainted' : 'modified'}`,
  ];
}
