import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One line in the format `sha256sum -c` reads: hash, two spaces, file name. */
export function checksumLine(sha256: string, name: string): string {
  return `${sha256}  ${name}\n`;
}

/** Writes `<path>.sha256` next to the file, naming it without a directory so it checks in place. */
export async function writeChecksumFile(path: string, sha256: string): Promise<string> {
  const file = `${path}.sha256`;
  await writeFile(file, checksumLine(sha256, basename(path)));
  return file;
}
