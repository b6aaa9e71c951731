import { readFile, stat } from 'node:fs/promises';
import { parseClusterSpec, type SpecParse } from './parse.js';

/** cluster.yaml is a few KiB; anything this large is not one. */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** Reads and validates cluster.yaml from disk; unreadable or oversized files come back as errors too. */
export async function loadClusterSpecFile(path: string): Promise<SpecParse> {
  try {
    const info = await stat(path);
    if (info.size > MAX_SPEC_BYTES) {
      return {
        ok: false,
        errors: [{ path, message: `is ${info.size} bytes; the limit is ${MAX_SPEC_BYTES}` }],
        warnings: [],
      };
    }
    return parseClusterSpec(await readFile(path, 'utf8'), path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, errors: [{ path, message: `cannot be read (${code})` }], warnings: [] };
  }
}
