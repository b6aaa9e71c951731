import { request } from 'node:https';
import { KctlError } from '../../proto/errors.js';
import type { Host } from './host.js';

/**
 * CA bundles a host's package manager trusts, by distribution family. A repository key is fetched
 * trusting exactly what apt or dnf on that host would trust for the repository itself: never
 * Node's built-in list, so a mirror behind a private CA works when the host trusts that CA, and a
 * test host root trusts only its own test CA.
 */
export const CA_BUNDLE_PATHS = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
] as const;

export interface FetchHttpsOptions {
  /** PEM certificates to trust (the host's CA bundle) */
  ca: string;
  /** default 1 MiB: a signing key is a few KiB */
  maxBytes?: number;
  /** for the whole fetch, redirects included; default 30 s */
  timeoutMs?: number;
  /** default 5; pkgs.k8s.io answers with a redirect to its CDN */
  maxRedirects?: number;
}

function fetchError(url: string, message: string, cause?: unknown): KctlError {
  return new KctlError('program_failed', `Cannot fetch ${url}: ${message}`, {
    retryable: true,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/**
 * GET `url` trusting the host's own CA bundle (read through the Host, so a test root brings its
 * own); the network side of the Host layer for the few steps that download (repository keys).
 */
export async function fetchWithHostTrust(
  host: Host,
  url: string,
  options: Omit<FetchHttpsOptions, 'ca'> = {},
): Promise<Buffer> {
  for (const path of CA_BUNDLE_PATHS) {
    const ca = await host.readFile(path);
    if (ca?.includes('BEGIN CERTIFICATE')) return fetchHttps(url, { ...options, ca });
  }
  throw new KctlError('step_failed', `Cannot fetch ${url}: this host has no CA bundle`, {
    details: { remedy: `install ca-certificates (looked for ${CA_BUNDLE_PATHS.join(', ')})` },
  });
}

/** One GET, https only (redirects too), body capped; resolves with the body of a 200 answer. */
export async function fetchHttps(url: string, options: FetchHttpsOptions): Promise<Buffer> {
  const maxRedirects = options.maxRedirects ?? 5;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let current = url;
  for (let hop = 0; ; hop++) {
    const parsed = new URL(current);
    if (parsed.protocol !== 'https:') throw fetchError(url, `${current} is not an https URL`);
    const answer = await getOnce(parsed, options, Math.max(1, deadline - Date.now()));
    if (answer.location === undefined) return answer.body;
    if (hop >= maxRedirects) throw fetchError(url, `more than ${maxRedirects} redirects`);
    current = new URL(answer.location, parsed).toString();
  }
}

function getOnce(
  url: URL,
  options: FetchHttpsOptions,
  timeoutMs: number,
): Promise<{ body: Buffer; location?: string }> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => req.destroy(fetchError(url.toString(), `no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const req = request(
      {
        method: 'GET',
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || 443,
        path: url.pathname + url.search,
        ca: options.ca,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        agent: false,
        headers: { accept: '*/*', 'user-agent': 'kctl-agent' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if ([301, 302, 303, 307, 308].includes(status) && res.headers.location !== undefined) {
          res.resume();
          clearTimeout(timer);
          resolve({ body: Buffer.alloc(0), location: res.headers.location });
          return;
        }
        if (status !== 200) {
          res.resume();
          clearTimeout(timer);
          reject(fetchError(url.toString(), `HTTP ${status}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        let tooBig = false;
        res.on('data', (c: Buffer) => {
          if (tooBig) return;
          size += c.length;
          if (size <= maxBytes) {
            chunks.push(c);
            return;
          }
          // settle now: after destroy() the response may still end normally with what it has
          tooBig = true;
          clearTimeout(timer);
          reject(fetchError(url.toString(), `more than ${maxBytes} bytes`));
          req.destroy();
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (!tooBig) resolve({ body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err instanceof KctlError ? err : fetchError(url.toString(), err.message, err));
        });
      },
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof KctlError ? err : fetchError(url.toString(), err.message, err));
    });
    req.end();
  });
}
