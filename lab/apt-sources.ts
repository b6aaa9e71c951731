import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KctlError } from '../proto/errors.js';

/**
 * The machine's own apt sources, so the lab's base root filesystem comes from the same mirror and
 * suites as the machine (no other hosts). Both formats apt reads: one-line `.list` files and
 * deb822 `.sources` files. Files with other suffixes (`*.disabled`, `*.save`) are ignored, as apt does.
 */
export interface AptSource {
  type: 'deb' | 'deb-src';
  uri: string;
  suite: string;
  components: string[];
  /** a keyring file; an inline key block in a deb822 Signed-By is not carried over */
  signedBy?: string;
}

export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!m) continue;
    const [, type, opts, uri, suite, comps] = m;
    if (uri === undefined || suite === undefined) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(opts ?? '')?.[1];
    out.push({
      type: type === 'deb-src' ? 'deb-src' : 'deb',
      uri,
      suite,
      components: (comps ?? '').trim().split(/\s+/).filter(Boolean),
      ...(signedBy !== undefined ? { signedBy } : {}),
    });
  }
  return out;
}

/** deb822 paragraphs; continuation lines (leading space) belong to the field above. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const para of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const raw of para.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ''}\n${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (!m || m[1] === undefined) continue;
      last = m[1].toLowerCase();
      fields.set(last, (m[2] ?? '').trim());
    }
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
    const signed = fields.get('signed-by');
    const signedBy = signed !== undefined && !signed.includes('\n') && signed !== '' ? signed : undefined;
    for (const type of words('types')) {
      if (type !== 'deb' && type !== 'deb-src') continue;
      for (const uri of words('uris')) {
        for (const suite of words('suites')) {
          out.push({
            type,
            uri,
            suite,
            components: words('components'),
            ...(signedBy !== undefined ? { signedBy } : {}),
          });
        }
      }
    }
  }
  return out;
}

/** `VERSION_CODENAME` of /etc/os-release text (bookworm, trixie...). */
export function parseOsCodename(osRelease: string): string | undefined {
  const m = /^VERSION_CODENAME=["']?([a-z0-9-]+)["']?\s*$/m.exec(osRelease);
  return m?.[1];
}

/** Binary sources of the machine's own distribution: the codename and its -updates/-security. */
export function selectDistroSources(sources: AptSource[], codename: string): AptSource[] {
  const seen = new Set<string>();
  return sources.filter((s) => {
    if (s.type !== 'deb') return false;
    if (s.suite !== codename && !s.suite.startsWith(`${codename}-`)) return false;
    const key = `${s.uri} ${s.suite}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One apt one-line entry per suite (apt reads a second word after the suite as a component). */
export function renderOneLineSource(s: AptSource): string {
  const opts = s.signedBy !== undefined ? `[signed-by=${s.signedBy}] ` : '';
  return `${s.type} ${opts}${s.uri} ${s.suite} ${s.components.join(' ')}`.trim();
}

export interface MachineDistroSources {
  codename: string;
  sources: AptSource[];
}

/** Reads /etc/os-release and every apt source file apt itself would read. */
export async function readMachineDistroSources(etc = '/etc'): Promise<MachineDistroSources> {
  const osRelease = await readFile(join(etc, 'os-release'), 'utf8').catch(() => '');
  const codename = parseOsCodename(osRelease);
  if (codename === undefined) {
    throw new KctlError(
      'invalid_config',
      `Cannot tell the Debian release: ${etc}/os-release has no VERSION_CODENAME`,
      {
        details: { remedy: 'run the lab on a Debian (or derived) machine' },
      },
    );
  }
  const all: AptSource[] = [];
  const main = await readFile(join(etc, 'apt/sources.list'), 'utf8').catch(() => '');
  all.push(...parseOneLineSources(main));
  const dir = join(etc, 'apt/sources.list.d');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    if (name.endsWith('.list')) all.push(...parseOneLineSources(await readFile(join(dir, name), 'utf8')));
    else if (name.endsWith('.sources'))
      all.push(...parseDeb822Sources(await readFile(join(dir, name), 'utf8')));
  }
  const sources = selectDistroSources(all, codename);
  if (sources.length === 0) {
    throw new KctlError('invalid_config', `No apt source for "${codename}" in ${etc}/apt/sources.list(.d)`, {
      details: {
        remedy: `configure a Debian mirror for ${codename} in /etc/apt/sources.list.d/ and run apt-get update`,
      },
    });
  }
  return { codename, sources };
}
