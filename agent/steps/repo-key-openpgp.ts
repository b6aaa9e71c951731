import { createHash } from 'node:crypto';
import { KctlError } from '../../proto/errors.js';

/**
 * Just enough OpenPGP (RFC 9580) to handle a repository signing key without gpg on the host:
 * de-armor (what `gpg --dearmor` does), armor, walk the packets, and compute primary key
 * fingerprints. Nothing is verified cryptographically here: apt's gpgv and rpm do that with the
 * keyring this produces; kctl's job is to fetch it over HTTPS and compare it with the pin.
 */

const BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const END = '-----END PGP PUBLIC KEY BLOCK-----';

const TAG_SECRET_KEY = 5;
const TAG_PUBLIC_KEY = 6;
const TAG_SECRET_SUBKEY = 7;
const TAG_PUBLIC_SUBKEY = 14;

export interface OpenPgpKeyring {
  /** the packets, binary: what `gpg --dearmor` writes and apt's signed-by reads */
  binary: Buffer;
  /** upper-case hex fingerprints of the primary keys, in order */
  primaryFingerprints: string[];
}

/** CRC-24 of RFC 9580 §6.1, the armor checksum. */
function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

function invalid(message: string): KctlError {
  return new KctlError('invalid_args', `Not an OpenPGP public key: ${message}`);
}

/** The packets inside an ASCII-armored public key block (checksum verified when present). */
export function dearmor(text: string): Buffer {
  const lines = text.replace(/\r/g, '').split('\n');
  const start = lines.findIndex((l) => l.trim() === BEGIN);
  if (start < 0) throw invalid(`no "${BEGIN}" line`);
  const end = lines.findIndex((l, i) => i > start && l.trim() === END);
  if (end < 0) throw invalid(`no "${END}" line`);
  let i = start + 1;
  // armor headers ("Version: ...", "Comment: ...") end at the first blank line
  while (i < end && /^[A-Za-z][A-Za-z0-9-]*: /.test(lines[i] ?? '')) i++;
  const body: string[] = [];
  let checksum: string | undefined;
  for (; i < end; i++) {
    const l = (lines[i] ?? '').trim();
    if (l === '') continue;
    if (/^=[A-Za-z0-9+/]{4}$/.test(l)) checksum = l.slice(1);
    else if (/^[A-Za-z0-9+/]+=*$/.test(l)) body.push(l);
    else throw invalid(`line ${i + 1} is not base64`);
  }
  const data = Buffer.from(body.join(''), 'base64');
  if (data.length === 0) throw invalid('the armored block is empty');
  if (checksum !== undefined) {
    const want = Buffer.from(checksum, 'base64').readUIntBE(0, 3);
    if (crc24(data) !== want) throw invalid('the armor checksum does not match its content');
  }
  return data;
}

/** ASCII armor for a binary keyring (rpm and dnf import armored keys). */
export function armor(binary: Buffer): string {
  const b64 = binary.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  const crc = Buffer.alloc(3);
  crc.writeUIntBE(crc24(binary), 0, 3);
  return [BEGIN, '', ...lines, `=${crc.toString('base64')}`, END, ''].join('\n');
}

interface Packet {
  tag: number;
  body: Buffer;
}

function packets(data: Buffer): Packet[] {
  const out: Packet[] = [];
  let at = 0;
  while (at < data.length) {
    const first = data[at] ?? 0;
    if ((first & 0x80) === 0) throw invalid(`byte ${at} does not start a packet`);
    let tag: number;
    let len: number;
    let headerLen: number;
    if (first & 0x40) {
      tag = first & 0x3f;
      const o1 = data[at + 1];
      if (o1 === undefined) throw invalid('truncated packet header');
      if (o1 < 192) [len, headerLen] = [o1, 2];
      else if (o1 < 224) [len, headerLen] = [((o1 - 192) << 8) + (data[at + 2] ?? 0) + 192, 3];
      else if (o1 === 255) {
        if (at + 6 > data.length) throw invalid('truncated packet header');
        [len, headerLen] = [data.readUInt32BE(at + 2), 6];
      } else throw invalid('partial body lengths do not occur in keys');
    } else {
      tag = (first >> 2) & 0x0f;
      const lengthType = first & 0x03;
      if (lengthType === 3) throw invalid('indeterminate packet length');
      const n = 1 << lengthType;
      if (at + 1 + n > data.length) throw invalid('truncated packet header');
      [len, headerLen] = [data.readUIntBE(at + 1, n), 1 + n];
    }
    const start = at + headerLen;
    if (start + len > data.length) throw invalid(`packet at byte ${at} runs past the end`);
    out.push({ tag, body: data.subarray(start, start + len) });
    at = start + len;
  }
  return out;
}

/** v4: SHA-1 over 0x99, a 2-byte length and the key packet body; v6 (and v5): SHA-256, 4-byte length. */
function fingerprint(body: Buffer): string {
  const version = body[0];
  if (version === 4) {
    const head = Buffer.from([0x99, (body.length >> 8) & 0xff, body.length & 0xff]);
    return createHash('sha1').update(head).update(body).digest('hex').toUpperCase();
  }
  if (version === 5 || version === 6) {
    const head = Buffer.alloc(5);
    head[0] = version === 6 ? 0x9b : 0x9a;
    head.writeUInt32BE(body.length, 1);
    return createHash('sha256').update(head).update(body).digest('hex').toUpperCase();
  }
  throw invalid(`key packet version ${version ?? '(none)'} is not supported`);
}

/**
 * A keyring from what a repository serves at its key URL: armored (pkgs.k8s.io's Release.key and
 * repomd.xml.key) or already binary. Secret key material is refused outright.
 */
export function parsePublicKeys(data: Buffer): OpenPgpKeyring {
  const text = data.subarray(0, 4096).toString('latin1');
  if (text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) throw invalid('it holds secret key material');
  const binary = text.includes(BEGIN) ? dearmor(data.toString('utf8')) : data;
  const all = packets(binary);
  if (all.some((p) => p.tag === TAG_SECRET_KEY || p.tag === TAG_SECRET_SUBKEY))
    throw invalid('it holds secret key material');
  const primaryFingerprints = all.filter((p) => p.tag === TAG_PUBLIC_KEY).map((p) => fingerprint(p.body));
  if (primaryFingerprints.length === 0 || all[0]?.tag !== TAG_PUBLIC_KEY)
    throw invalid('it does not start with a public key packet');
  // subkeys must parse too: a fingerprint we cannot compute is a key we cannot vouch for
  for (const p of all) if (p.tag === TAG_PUBLIC_SUBKEY) fingerprint(p.body);
  return { binary, primaryFingerprints };
}

/** "de15 b144 86cd ..." (gpg's spacing) -> "DE15B14486CD...". */
export function normalizeFingerprint(fpr: string): string {
  return fpr.replace(/\s+/g, '').toUpperCase();
}
