import { sign, type KeyObject } from 'node:crypto';

/**
 * A PKCS#10 certificate request (RFC 2986) for an ECDSA P-256 key, encoded by hand in DER: the one
 * shape the agent needs (subject CN, no attributes, ecdsa-with-SHA256). It spares the agent a
 * JavaScript ASN.1/X.509 stack (~16 MiB of RSS, issue 13 part 7); the controller parses and
 * verifies the request with a full X.509 library, and a unit test does the same.
 */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const sequence = (...content: Buffer[]): Buffer => tlv(0x30, ...content);

/** OID 2.5.4.3 (commonName) and 1.2.840.10045.4.3.2 (ecdsa-with-SHA256), pre-encoded */
const OID_COMMON_NAME = Buffer.from('0603550403', 'hex');
const OID_ECDSA_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

/** DER of a CSR with subject CN=`commonName` for `privateKey`/`publicKey` (EC P-256), signed with SHA-256. */
export function ecdsaCsrDer(commonName: string, publicKey: KeyObject, privateKey: KeyObject): Buffer {
  const subject = sequence(tlv(0x31, sequence(OID_COMMON_NAME, tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = sequence(
    Buffer.from([0x02, 0x01, 0x00]), // version 0
    subject,
    spki,
    Buffer.from([0xa0, 0x00]), // attributes [0]: none
  );
  // node signs ECDSA as a DER SEQUENCE { r, s }, which is what X.509 wants inside the BIT STRING
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return sequence(info, sequence(OID_ECDSA_SHA256), tlv(0x03, Buffer.from([0x00]), signature));
}

/** PEM armour, 64 characters a line */
export function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
