/**
 * Readers of package repository indexes, for `packages.available`: apt's flat `Packages` file and
 * dnf's `repomd.xml` / `primary.xml`. Only names and versions are taken; nothing here trusts the
 * index for more than the answer to "does the repository offer this version".
 */

/** Versions per package name from a Debian `Packages` file (deb822 stanzas), for `names` only. */
export function debVersions(packagesFile: string, names: readonly string[]): Record<string, string[]> {
  const wanted = new Set(names);
  const out: Record<string, string[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const stanza of packagesFile.split(/\r?\n\s*\r?\n/)) {
    const name = /^Package:[ \t]*(\S+)[ \t]*$/m.exec(stanza)?.[1];
    const version = /^Version:[ \t]*(\S+)[ \t]*$/m.exec(stanza)?.[1];
    if (name === undefined || version === undefined || !wanted.has(name)) continue;
    const list = out[name] ?? [];
    if (!list.includes(version)) list.push(version);
    out[name] = list;
  }
  return out;
}

/** The primary metadata's location (`repodata/…-primary.xml.gz`) named by a repomd.xml. */
export function primaryHref(repomd: string): string | undefined {
  const data = /<data\s+type="primary"\s*>([\s\S]*?)<\/data>/.exec(repomd)?.[1];
  if (data === undefined) return undefined;
  return /<location\s+[^>]*href="([^"]+)"/.exec(data)?.[1];
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string): string =>
  s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e] ?? '');

/**
 * Versions per package name from dnf's primary.xml, as `ver-rel` (the form `dnf list` prints
 * without the arch): `1.31.3-150500.1.1`. An epoch other than 0 is kept as `epoch:ver-rel`.
 */
export function rpmVersions(primaryXml: string, names: readonly string[]): Record<string, string[]> {
  const wanted = new Set(names);
  const out: Record<string, string[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const m of primaryXml.matchAll(/<package\b[^>]*>([\s\S]*?)<\/package>/g)) {
    const body = m[1] ?? '';
    const name = /<name>([^<]*)<\/name>/.exec(body)?.[1];
    const tag = /<version\b([^>]*)\/?>/.exec(body)?.[1];
    if (name === undefined || tag === undefined || !wanted.has(unescapeXml(name))) continue;
    const attr = (a: string): string | undefined => new RegExp(`\\b${a}="([^"]*)"`).exec(tag)?.[1];
    const ver = attr('ver');
    if (ver === undefined) continue;
    const rel = attr('rel');
    const epoch = attr('epoch');
    const version = `${epoch && epoch !== '0' ? `${epoch}:` : ''}${ver}${rel ? `-${rel}` : ''}`;
    const list = out[unescapeXml(name)] ?? [];
    if (!list.includes(version)) list.push(version);
    out[unescapeXml(name)] = list;
  }
  return out;
}
