import { randomBytes, randomInt } from 'node:crypto';
import { isIP } from 'node:net';

/** Value grammars the Kubernetes tools use (Go durations, versions, tokens, addresses), as pure functions. */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration, in milliseconds ("0", "30m", "1h30m", "1.5s"); undefined when invalid. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    s = s.slice(m[0].length);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Go's Duration.String() for whole milliseconds: "24h0m0s", "4m0s", "1.5s", "0s". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  if (h === 0 && m === 0) return `${sign}${s}s`;
  return h > 0 ? `${sign}${h}h${m}m${s}s` : `${sign}${m}m${s}s`;
}

/** apimachinery's duration.ShortHumanDuration, as `kubeadm token list` prints TTLs ("23h", "59m", "2d"). */
export function shortHumanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 365 * 8) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

export interface Semver {
  major: number;
  minor: number;
  patch: number;
  pre: string;
  /** normalised with a leading v */
  raw: string;
}

export function parseSemver(text: string): Semver | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const pre = m[4]?.slice(1) ?? '';
  return { major, minor, patch, pre, raw: `v${major}.${minor}.${patch}${pre ? `-${pre}` : ''}` };
}

export function compareSemver(a: Semver, b: Semver): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.minor !== b.minor) return a.minor - b.minor;
  if (a.patch !== b.patch) return a.patch - b.patch;
  if (a.pre === b.pre) return 0;
  if (a.pre === '') return 1;
  if (b.pre === '') return -1;
  return a.pre < b.pre ? -1 : 1;
}

/** Bootstrap token grammar (k8s.io/cluster-bootstrap/token/api). */
export const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_TOKEN_ID = /^[a-z0-9]{6}$/;
export const BOOTSTRAP_TOKEN_PATTERN = '\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z';
export const BOOTSTRAP_GROUP = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
export const DEFAULT_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
export const DEFAULT_TOKEN_USAGES = ['signing', 'authentication'];
export const TOKEN_USAGES = ['signing', 'authentication'];
export const CA_CERT_HASH = /^sha256:[0-9a-f]{64}$/;
export const CERTIFICATE_KEY = /^[0-9a-f]{64}$/;

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomString(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return s;
}

export function generateBootstrapToken(): string {
  return `${randomString(6)}.${randomString(16)}`;
}

export function generateCertificateKey(): string {
  return randomBytes(32).toString('hex');
}

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);

export const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** A certSANs entry: an IP, a DNS name, or a DNS name with a leading wildcard label. */
export function isValidAltName(s: string): boolean {
  if (isIP(s) !== 0) return true;
  const name = s.startsWith('*.') ? s.slice(2) : s;
  return isDns1123Subdomain(name.toLowerCase());
}

export interface HostPort {
  host: string;
  port: number | undefined;
}

/** Go's net.SplitHostPort, tolerant of a missing port ("10.0.0.1", "[fd00::1]:6443", "cp.example:6443"). */
export function splitHostPort(s: string): HostPort | undefined {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    return { host: bracket[1] ?? '', port: bracket[2] === undefined ? undefined : Number(bracket[2]) };
  }
  if (isIP(s) === 6) return { host: s, port: undefined };
  const parts = s.split(':');
  if (parts.length === 1) return { host: s, port: undefined };
  if (parts.length === 2 && /^\d+$/.test(parts[1] ?? ''))
    return { host: parts[0] ?? '', port: Number(parts[1]) };
  return undefined;
}

export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

export interface Cidr {
  family: 4 | 6;
  prefix: number;
  /** the network address as a big integer */
  base: bigint;
}

function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const family = isIP(ip);
  if (family === 4) {
    const value = ip.split('.').reduce((acc, part) => (acc << 8n) + BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (family === 6) {
    let text = ip;
    // an embedded IPv4 tail ("::ffff:10.0.0.1") becomes two hextets
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
      const n = ipToBigInt(v4[1] ?? '')?.value ?? 0n;
      text =
        text.slice(0, -(v4[1] ?? '').length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head = '', tail] = text.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
    const groups = [...h, ...fill, ...t];
    const value = groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
    return { family: 6, value };
  }
  return undefined;
}

function bigIntToIp(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // shortest form: collapse the longest run of zero groups
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/** Go's net.ParseCIDR (host bits may be set; the network address is kept). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const ip = ipToBigInt(m[1] ?? '');
  const prefix = Number(m[2]);
  if (!ip) return undefined;
  const bits = ip.family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const base = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, prefix, base };
}

/** The n-th address of a CIDR (kubeadm: service IP .1 for the API server, .10 for DNS). */
export function nthAddress(cidr: Cidr, n: number): string {
  return bigIntToIp(cidr.base + BigInt(n), cidr.family);
}

/** Comma-separated CIDR lists (dual stack) as kubeadm accepts them in networking.*Subnet. */
export function parseCidrList(text: string): Cidr[] | undefined {
  const out: Cidr[] = [];
  for (const part of text.split(',')) {
    const c = parseCidr(part);
    if (!c) return undefined;
    out.push(c);
  }
  return out;
}
