import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { KctlError, describeZodError } from '../../proto/errors.js';
import {
  BUNDLE_API_VERSION,
  BundleManifest,
  bundlePathProblem,
  MAX_BUNDLE_FILES,
  type BundleFile,
} from '../../proto/bundle.js';
import { imageArchiveProblems, type BundleImage } from '../../proto/bundle-images.js';

export const MANIFEST_FILE = 'manifest.json';

/** SHA-256 and size of a file, read as a stream (packages can be large). */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Every regular file below `dir` except manifest.json, as sorted bundle paths. A symlink, device,
 * socket or fifo anywhere is refused: a bundle is plain files only (S18).
 */
export async function listBundleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (abs: string): Promise<void> => {
    for (const e of await readdir(abs, { withFileTypes: true })) {
      const full = join(abs, e.name);
      const rel = relative(dir, full).split(sep).join(posix.sep);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        if (rel !== MANIFEST_FILE) out.push(rel);
      } else {
        throw new KctlError('invalid_args', `Bundle entry "${rel}" is not a regular file or directory`, {
          details: { remedy: 'a bundle holds plain files only: no symlinks, devices, sockets or fifos' },
        });
      }
    }
  };
  await walk(dir);
  for (const rel of out) {
    const problem = bundlePathProblem(rel);
    if (problem !== undefined)
      throw new KctlError('invalid_args', `Bundle file "${rel}" cannot be listed: its path ${problem}`);
  }
  if (out.length > MAX_BUNDLE_FILES)
    throw new KctlError('invalid_args', `A bundle holds at most ${MAX_BUNDLE_FILES} files`);
  return out.sort();
}

/** The manifest of `dir` as it is now (paths sorted, hashes computed), with the images the build added. */
export async function buildManifest(
  dir: string,
  now = new Date(),
  images?: readonly BundleImage[],
): Promise<BundleManifest> {
  const files: BundleFile[] = [];
  for (const path of await listBundleFiles(dir)) files.push({ path, ...(await hashFile(join(dir, path))) });
  return BundleManifest.parse({
    apiVersion: BUNDLE_API_VERSION,
    kind: 'BundleManifest',
    createdAt: now.toISOString(),
    files,
    ...(images !== undefined ? { images } : {}),
  });
}

export function manifestText(manifest: BundleManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export async function writeManifest(
  dir: string,
  now?: Date,
  images?: readonly BundleImage[],
): Promise<BundleManifest> {
  const manifest = await buildManifest(dir, now, images);
  const problems = imageArchiveProblems(manifest.images ?? [], manifest.files);
  if (problems.length > 0) throw new KctlError('internal', `The bundle in "${dir}": ${problems.join('; ')}`);
  await writeFile(join(dir, MANIFEST_FILE), manifestText(manifest), { mode: 0o644 });
  return manifest;
}

/** Parses manifest text; a KctlError names the first bad field. */
export function parseManifest(text: string, where: string): BundleManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KctlError('invalid_config', `${where} is not JSON`);
  }
  const parsed = BundleManifest.safeParse(data);
  if (!parsed.success)
    throw new KctlError('invalid_config', `${where}: ${describeZodError(parsed.error, 'manifest')}`);
  return parsed.data;
}

/** The manifest's exact text and its parsed form. */
export async function readManifest(dir: string): Promise<{ text: string; manifest: BundleManifest }> {
  const path = join(dir, MANIFEST_FILE);
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new KctlError('not_found', `Cannot read the bundle manifest "${path}": ${(err as Error).message}`, {
      details: { remedy: 'build the bundle with "kctl bundle build --out DIR"' },
    });
  });
  return { text, manifest: parseManifest(text, path) };
}

export interface BundleProblem {
  path: string;
  problem: 'missing' | 'size' | 'sha256' | 'not-a-file' | 'unlisted' | 'image';
  detail: string;
}

/** Recomputes every listed file's size and SHA-256; files present but not listed are problems too. */
export async function verifyBundle(
  dir: string,
): Promise<{ manifest: BundleManifest; problems: BundleProblem[] }> {
  const { manifest } = await readManifest(dir);
  const problems: BundleProblem[] = [];
  for (const f of manifest.files) {
    const full = join(dir, f.path);
    const s = await lstat(full).catch(() => undefined);
    if (!s) {
      problems.push({ path: f.path, problem: 'missing', detail: 'listed in the manifest but absent' });
      continue;
    }
    if (!s.isFile()) {
      problems.push({ path: f.path, problem: 'not-a-file', detail: 'not a regular file' });
      continue;
    }
    const got = await hashFile(full);
    if (got.size !== f.size)
      problems.push({ path: f.path, problem: 'size', detail: `size ${got.size}, manifest says ${f.size}` });
    else if (got.sha256 !== f.sha256)
      problems.push({
        path: f.path,
        problem: 'sha256',
        detail: `sha256 ${got.sha256}, manifest says ${f.sha256}`,
      });
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const path of await listBundleFiles(dir)) {
    if (!listed.has(path))
      problems.push({ path, problem: 'unlisted', detail: 'present but not in the manifest' });
  }
  for (const detail of imageArchiveProblems(manifest.images ?? [], manifest.files))
    problems.push({ path: 'images', problem: 'image', detail });
  return { manifest, problems };
}

/** The file paths the bundle in `dir` lists, for plans that check it carries what they install; none without a bundle. */
export async function bundleManifestPaths(dir: string | undefined): Promise<string[] | undefined> {
  if (dir === undefined) return undefined;
  try {
    return (await readManifest(dir)).manifest.files.map((f) => f.path);
  } catch {
    // no readable manifest: the bundle routes say so to agents; a plan does not guess
    return undefined;
  }
}
