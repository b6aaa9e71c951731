import { Document, isScalar, parse, visit } from 'yaml';

/**
 * Plain scalars that YAML 1.1 (yaml.org/type: bool, null, int, float, timestamp) resolves to
 * something other than a string. kubeadm, the kubelet and kubectl decode with go-yaml v2 rules,
 * which are YAML 1.1's: `no`, `on`, `y`, `0777`, `1:20` and `2001-12-14` are not strings there.
 */
const YAML11_NOT_STRING = [
  /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(?:~|null|Null|NULL|)$/,
  /^[-+]?0b[0-1_]+$/,
  /^[-+]?0[0-7_]+$/,
  /^[-+]?(?:0|[1-9][0-9_]*)$/,
  /^[-+]?0x[0-9a-fA-F_]+$/,
  /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/,
  // the spec's float allows `[0-9.]*` after the point; no decoder reads 198.18.0.100 as a float
  /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+][0-9]+)?$/,
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/,
  /^[-+]?\.(?:inf|Inf|INF)$/,
  /^\.(?:nan|NaN|NAN)$/,
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?$/,
  // go-yaml hands digit-led scalars to Go's strconv, which also reads 1e3, 1_000 and 0x1p-2 as numbers
  /^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$/,
  /^[-+]?0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][-+]?[0-9]+)?$/,
  /^[-+]?0[oO][0-7_]+$/,
];

/** Whether a string written as a plain scalar would read back as another type in YAML 1.1 or 1.2. */
export function needsQuotes(value: string): boolean {
  if (YAML11_NOT_STRING.some((re) => re.test(value))) return true;
  // as the yaml package reads it in 1.2 (core schema, newer decoders) and 1.1 (whose float also
  // takes `e0`); text that is no plain scalar at all (`{`, `- a`) the stringifier quotes on its own
  try {
    const quiet = { logLevel: 'silent' } as const;
    return (
      typeof parse(value, quiet) !== 'string' ||
      typeof parse(value, { ...quiet, version: '1.1' }) !== 'string'
    );
  } catch {
    return false;
  }
}

/**
 * Objects -> one multi-document YAML file. Key order is the objects' insertion order, lines are
 * never folded, and every string, key or value, that YAML 1.1 or 1.2 would read as another type is
 * double-quoted, so a render is byte-stable and parses back to exactly its input under both.
 */
export function renderYamlDocuments(documents: readonly object[]): string {
  return documents
    .map((d) => {
      const doc = new Document(d);
      visit(doc, {
        Scalar(_key, node) {
          if (isScalar(node) && typeof node.value === 'string' && needsQuotes(node.value))
            node.type = 'QUOTE_DOUBLE';
        },
      });
      return doc.toString({ lineWidth: 0, minContentWidth: 0 });
    })
    .join('---\n');
}
