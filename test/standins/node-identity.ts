import { X509Certificate } from 'node:crypto';
import { readHostFile } from './host-files.js';
import type { StandinEnv } from './standin-env.js';

/** The node name a host that joined uses: the CN (system:node:NAME) of the kubelet's client certificate. */
export function joinedNodeName(env: StandinEnv): string | undefined {
  const conf = readHostFile(env, '/etc/kubernetes/kubelet.conf');
  if (!conf) return undefined;
  const inline = /client-certificate-data: (\S+)/.exec(conf)?.[1];
  const file = /client-certificate: (\S+)/.exec(conf)?.[1];
  const pem = inline ? Buffer.from(inline, 'base64').toString() : file ? readHostFile(env, file) : undefined;
  if (!pem) return undefined;
  try {
    const cn =
      new X509Certificate(pem).subject
        .split('\n')
        .find((l) => l.startsWith('CN='))
        ?.slice(3) ?? '';
    return /^system:node:(.+)$/.exec(cn)?.[1];
  } catch {
    return undefined;
  }
}
