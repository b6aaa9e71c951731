import { open } from 'node:fs/promises';
import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';

/** The annotations containerd's `ctr images import` names an image by, in its order of preference. */
const CONTAINERD_NAME = 'io.containerd.image.name';
const OCI_REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_INDEX_BYTES = 1024 * 1024;

const OciIndex = z.object({
  schemaVersion: z.literal(2),
  manifests: z
    .array(
      z.object({
        mediaType: z.string(),
        digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
        size: z.number().int().min(0),
        annotations: z.record(z.string(), z.string()).optional(),
      }),
    )
    .min(1),
});

export interface OciArchiveImage {
  /** the name containerd gives the image on import */
  ref: string;
  /** the index entry's digest: the image target after import */
  digest: string;
}

/** Reads a tar's entries one header at a time until `want` is found; its bytes, or undefined. */
async function readTarEntry(path: string, want: string, maxBytes: number): Promise<Buffer | undefined> {
  const fh = await open(path, 'r');
  try {
    const header = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, pos);
      if (bytesRead < 512 || header.every((b) => b === 0)) return undefined;
      const field = (start: number, len: number): string =>
        header
          .subarray(start, start + len)
          .toString('utf8')
          .replace(/\0.*$/s, '');
      const size = parseInt(field(124, 12).trim() || '0', 8);
      const type = field(156, 1);
      const prefix = field(257, 6).startsWith('ustar') ? field(345, 155) : '';
      const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      longName = undefined;
      const body = pos + 512;
      if (type === 'x' || type === 'L') {
        // a PAX header's path= or GNU long name applies to the next entry
        const raw = Buffer.alloc(Math.min(size, 64 * 1024));
        await fh.read(raw, 0, raw.length, body);
        const text = raw.toString('utf8');
        longName = type === 'L' ? text.replace(/\0.*$/s, '') : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
      } else if ((type === '0' || type === '' || type === '\0') && name.replace(/^\.\//, '') === want) {
        if (size > maxBytes)
          throw new KctlError('invalid_args', `"${path}": ${want} is larger than ${maxBytes} bytes`);
        const out = Buffer.alloc(size);
        await fh.read(out, 0, size, body);
        return out;
      }
      pos = body + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
}

/**
 * The image an OCI archive (`skopeo copy ... oci-archive:FILE:REF`) holds: the single entry of its
 * index.json, named by the annotation `ctr images import` uses. An archive without a full name
 * (registry/path:tag) is refused: containerd would import it under a made-up name.
 */
export async function readOciArchive(path: string): Promise<OciArchiveImage> {
  const bytes = await readTarEntry(path, 'index.json', MAX_INDEX_BYTES).catch((err: unknown) => {
    if (err instanceof KctlError) throw err;
    throw new KctlError('invalid_args', `Cannot read the image archive "${path}": ${(err as Error).message}`);
  });
  const remedy = { remedy: 'make it with: skopeo copy SRC oci-archive:FILE:registry.example/path:tag' };
  if (bytes === undefined)
    throw new KctlError('invalid_args', `"${path}" is not an OCI archive: it holds no index.json`, {
      details: remedy,
    });
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new KctlError('invalid_args', `"${path}": index.json is not JSON`);
  }
  const index = OciIndex.safeParse(data);
  if (!index.success) throw new KctlError('invalid_args', `"${path}": index.json is not an OCI image index`);
  if (index.data.manifests.length !== 1)
    throw new KctlError(
      'invalid_args',
      `"${path}" holds ${index.data.manifests.length} images; an image archive for the bundle holds one`,
      { details: remedy },
    );
  const [entry] = index.data.manifests;
  const ref = entry?.annotations?.[CONTAINERD_NAME] ?? entry?.annotations?.[OCI_REF_NAME];
  if (entry === undefined || ref === undefined || !ref.includes('/'))
    throw new KctlError(
      'invalid_args',
      `"${path}" does not name its image in full (${ref === undefined ? 'no ref.name annotation' : `ref.name "${ref}"`})`,
      { details: remedy },
    );
  return { ref, digest: entry.digest };
}
