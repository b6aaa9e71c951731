import { Document, Scalar, isScalar, visit } from 'yaml';
import { needsQuotes } from '../yaml-documents.js';

/**
 * renderYamlDocuments (../yaml-documents.ts) for manifests that carry files in ConfigMaps: a
 * multi-line string (a JSON config) becomes a `|` block, which is always a string and reads as the
 * file it is; every other string is quoted exactly when YAML 1.1 or 1.2 would read it as another type.
 */
export function renderManifestDocuments(documents: readonly object[]): string {
  return documents
    .map((d) => {
      // shared objects (labels, rule lists) are written out each time: no anchors and aliases
      const doc = new Document(d, { aliasDuplicateObjects: false });
      visit(doc, {
        Scalar(_key, node) {
          if (!isScalar(node) || typeof node.value !== 'string') return;
          if (node.value.includes('\n')) node.type = Scalar.BLOCK_LITERAL;
          else if (needsQuotes(node.value)) node.type = Scalar.QUOTE_DOUBLE;
        },
      });
      return doc.toString({ lineWidth: 0, minContentWidth: 0 });
    })
    .join('---\n');
}
