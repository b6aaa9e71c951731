import { execa } from 'execa';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestPki {
  caCertPath: string;
  caCertPem: string;
  /** sha256:<hex> over the CA's SubjectPublicKeyInfo (S2) */
  caPin: string;
  serverCert: string;
  serverKey: string;
}

export function spkiPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** A CA and a serving certificate for 127.0.0.1, made with the openssl CLI (test material only). */
export async function makeTestPki(dir: string, name = 'test'): Promise<TestPki> {
  const p = (f: string): string => join(dir, `${name}-${f}`);
  const ossl = (args: string[]): Promise<unknown> => execa('openssl', args);
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ca.key')]);
  await ossl([
    'req',
    '-x509',
    '-new',
    '-key',
    p('ca.key'),
    '-subj',
    `/CN=${name} CA`,
    '-days',
    '2',
    '-out',
    p('ca.pem'),
  ]);
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('server.key')]);
  await ossl(['req', '-new', '-key', p('server.key'), '-subj', '/CN=127.0.0.1', '-out', p('server.csr')]);
  await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await ossl([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.pem'),
  ]);
  const caCertPem = await readFile(p('ca.pem'), 'utf8');
  return {
    caCertPath: p('ca.pem'),
    caCertPem,
    caPin: spkiPin(caCertPem),
    serverCert: await readFile(p('server.pem'), 'utf8'),
    serverKey: await readFile(p('server.key'), 'utf8'),
  };
}
