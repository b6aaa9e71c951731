import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleManifest, manifestSignatureValid } from '../../proto/bundle.js';
import { createCa } from '../pki.js';
import { MANIFEST_FILE, buildManifest, readManifest, verifyBundle, writeManifest } from './manifest.js';
import { signManifest } from './sign.js';

const dirs: string[] = [];
async function bundleDir(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kctl-bundle-unit-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

describe('bundle manifest', () => {
  it('lists every file below the directory with its sha256 and size, sorted, manifest.json excluded', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const dir = await bundleDir({
      'apt/pool/b_1.0_all.deb': 'bbb',
      'apt/Packages': 'index',
      'bin/tool': big,
      [MANIFEST_FILE]: '{}',
    });
    const m = await buildManifest(dir, new Date('2026-12-04T22:00:00.000Z'));
    expect(m).toEqual({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'BundleManifest',
      createdAt: '2026-12-04T22:00:00.000Z',
      files: [
        { path: 'apt/Packages', sha256: sha('index'), size: 5 },
        { path: 'apt/pool/b_1.0_all.deb', sha256: sha('bbb'), size: 3 },
        { path: 'bin/tool', sha256: sha(big), size: big.length },
      ],
    });
  });

  it('verify finds nothing wrong in a fresh bundle, and names each tampered, missing or unlisted file', async () => {
    const dir = await bundleDir({ 'a/one': '1', 'a/two': '22', three: '333' });
    await writeManifest(dir);
    expect((await verifyBundle(dir)).problems).toEqual([]);
    await writeFile(join(dir, 'a/one'), '9'); // same size, other bytes
    await writeFile(join(dir, 'a/two'), '2'); // other size
    await rm(join(dir, 'three'));
    await writeFile(join(dir, 'extra'), 'x');
    const { problems } = await verifyBundle(dir);
    expect(problems.map((p) => [p.path, p.problem])).toEqual([
      ['a/one', 'sha256'],
      ['a/two', 'size'],
      ['three', 'missing'],
      ['extra', 'unlisted'],
    ]);
  });

  it('refuses a symlink in the bundle directory', async () => {
    const dir = await bundleDir({ 'a/file': 'x' });
    await symlink('/etc/passwd', join(dir, 'a/link'));
    await expect(buildManifest(dir)).rejects.toThrow(/"a\/link" is not a regular file/);
  });

  it('refuses a dot file (the agent keeps its temp files as dot files)', async () => {
    const dir = await bundleDir({ 'a/.hidden': 'x' });
    await expect(buildManifest(dir)).rejects.toThrow(/no leading dot/);
  });

  it.each([
    ['an absolute path', '/etc/passwd', /must be relative/],
    ['a .. segment', 'apt/../../etc/passwd', /"\." or "\.\." segments/],
    ['a backslash', 'apt\\x', /posix/],
    ['an empty segment', 'apt//x', /segment/],
    ['a file that is also a directory', ['apt', 'apt/x'], /lies below "apt"/],
    ['a duplicate', ['a', 'a'], /unique/],
  ])('the schema refuses %s', (_what, paths, message) => {
    const files = (Array.isArray(paths) ? paths : [paths]).map((path) => ({
      path,
      sha256: 'a'.repeat(64),
      size: 1,
    }));
    const r = BundleManifest.safeParse({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'BundleManifest',
      createdAt: '2026-12-04T22:00:00.000Z',
      files,
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join('\n')).toMatch(message);
  });

  it('the schema refuses unknown keys and upper-case hex', async () => {
    const dir = await bundleDir({ x: 'x' });
    const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined);
    expect(text).toBeUndefined();
    await writeManifest(dir);
    const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as {
      files: Array<Record<string, unknown>>;
    };
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ ...m, extra: 1 }));
    await expect(readManifest(dir)).rejects.toThrow(/extra/);
    m.files[0]!.sha256 = String(m.files[0]!.sha256).toUpperCase();
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(m));
    await expect(readManifest(dir)).rejects.toThrow(/lowercase hex/);
  });
});

describe('manifest signature', () => {
  it('verifies with the CA certificate and fails for other bytes, another CA or a mangled signature', async () => {
    const ca = await createCa({ commonName: 'kctl controller CA' });
    const other = await createCa({ commonName: 'someone else' });
    const text = '{"files":[]}\n';
    const sig = signManifest(text, ca.keyPem, ca.certPem);
    expect(manifestSignatureValid(text, sig, ca.certPem)).toBe(true);
    expect(manifestSignatureValid(text.replace('[]', '[ ]'), sig, ca.certPem)).toBe(false);
    expect(manifestSignatureValid(text, sig, other.certPem)).toBe(false);
    expect(manifestSignatureValid(text, signManifest(text, other.keyPem, other.certPem), ca.certPem)).toBe(
      false,
    );
    expect(manifestSignatureValid(text, `A${sig.slice(1)}`, ca.certPem)).toBe(false);
    expect(manifestSignatureValid(text, '', ca.certPem)).toBe(false);
  });

  it('refuses to sign with a key that is not the CA certificate key', async () => {
    const ca = await createCa({ commonName: 'kctl controller CA' });
    const other = await createCa({ commonName: 'someone else' });
    expect(() => signManifest('{}', other.keyPem, ca.certPem)).toThrow(/does not match the CA certificate/);
  });
});
