/**
 * The two versions of the config file the atomic-write crash test writes: different lengths and
 * every line numbered, so a torn file (a prefix, a mix, or a truncation) is never equal to either.
 */
export function faultContent(version: number): Buffer {
  const lines = version === 0 ? 24_000 : 31_000; // ~0.5 and ~0.7 MB: a write takes long enough to be cut
  const tag = version === 0 ? 'old' : 'new';
  const out: string[] = [`# kctl fault test: ${tag} version`];
  for (let i = 0; i < lines; i++) out.push(`${tag}-line-${String(i).padStart(6, '0')}: ${'x'.repeat(8)}`);
  out.push(`# end of ${tag} version`, '');
  return Buffer.from(out.join('\n'));
}
