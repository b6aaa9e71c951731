import { stringify } from 'yaml';

/**
 * Objects -> one multi-document YAML file. Key order is the objects' insertion order, lines are
 * never folded, and strings that would read back as another type are quoted, so a render is
 * byte-stable and parses back to exactly its input.
 */
export function renderYamlDocuments(documents: readonly object[]): string {
  return documents.map((d) => stringify(d, { lineWidth: 0, minContentWidth: 0 })).join('---\n');
}
