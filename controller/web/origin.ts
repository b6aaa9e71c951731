/**
 * The Origin allow-list of the fleet page (S13, Rancher 13209): browsers always send Origin on a
 * WebSocket handshake, and a page from any other origin — even another port of the same host,
 * which counts as same-site and so gets the SameSite=Strict cookie — is refused.
 */
export function originsFor(names: readonly string[], port: number): string[] {
  const origins = new Set<string>();
  for (const raw of names) {
    const name = raw.replace(/^\[|\]$/g, '');
    if (name === '' || name === '0.0.0.0' || name === '::') continue;
    const host = name.includes(':') ? `[${name}]` : name;
    try {
      // URL normalises case, IPv6 zeros and the default port the way browsers write Origin
      origins.add(new URL(`https://${host}:${port}`).origin);
    } catch {
      // a SAN that is not a valid host name cannot be an origin either
    }
  }
  return [...origins].sort();
}

export function isOriginAllowed(origin: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined || origin === '' || origin === 'null') return false;
  try {
    return allowed.has(new URL(origin).origin);
  } catch {
    return false;
  }
}
