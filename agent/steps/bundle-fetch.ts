import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { KctlError, WireError } from '../../proto/errors.js';
import { SignedBundleManifest, bundleFileUrlPath } from '../../proto/bundle.js';
import { httpsJson } from '../https-json.js';

/** Where the bundle-sync step gets the signed manifest and the files; tests give their own. */
export interface BundleSource {
  /** the manifest text and the controller's signature over it, unverified */
  manifest(): Promise<SignedBundleManifest>;
  /** one file's bytes, streamed; the caller checks size and SHA-256 */
  file(path: string): Promise<AsyncIterable<Uint8Array>>;
  /** the controller CA pinned at enrolment: the only key a manifest signature may verify with */
  caPem(): string;
}

export interface AgentCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const IDLE_TIMEOUT_MS = 60_000;

/**
 * The controller's bundle routes over mutual TLS with the agent's current certificate, trusting
 * only the pinned CA (S3). `credentials` is read per request, so a rotated certificate is used.
 */
export function controllerBundleSource(options: {
  controller: string;
  credentials: () => AgentCredentials;
}): BundleSource {
  const base = options.controller.replace(/\/+$/, '');
  return {
    caPem: () => options.credentials().caPem,
    async manifest() {
      const c = options.credentials();
      const body = await httpsJson({
        method: 'GET',
        url: `${base}/v1/bundle/manifest`,
        ca: c.caPem,
        cert: c.certPem,
        key: c.keyPem,
        timeoutMs: IDLE_TIMEOUT_MS,
      });
      const parsed = SignedBundleManifest.safeParse(body);
      if (!parsed.success)
        throw new KctlError('invalid_frame', `${base}/v1/bundle/manifest answered with an unexpected body`);
      return parsed.data;
    },
    file(path) {
      const c = options.credentials();
      const url = new URL(`${base}${bundleFileUrlPath(path)}`);
      return new Promise<AsyncIterable<Uint8Array>>((resolve, reject) => {
        const req = request(
          {
            method: 'GET',
            hostname: url.hostname.replace(/^\[|\]$/g, ''),
            port: url.port || 443,
            path: url.pathname,
            ca: [c.caPem],
            rejectUnauthorized: true,
            cert: c.certPem,
            key: c.keyPem,
            minVersion: 'TLSv1.2',
            timeout: IDLE_TIMEOUT_MS,
            agent: false,
          },
          (res) => {
            if (res.statusCode === 200) return resolve(res);
            void refusal(res, path).then(reject, reject);
          },
        );
        req.on('timeout', () =>
          req.destroy(
            new KctlError('timeout', `Bundle file "${path}": no data for ${IDLE_TIMEOUT_MS} ms`, {
              retryable: true,
            }),
          ),
        );
        req.on('error', (err) =>
          reject(
            err instanceof KctlError
              ? err
              : new KctlError(
                  'io_error',
                  `Cannot fetch bundle file "${path}" from ${url.origin}: ${err.message}`,
                  {
                    retryable: true,
                    cause: err,
                  },
                ),
          ),
        );
        req.end();
      });
    },
  };
}

/** The controller's error for a refused download (a small JSON body), as a KctlError naming the file. */
async function refusal(res: IncomingMessage, path: string): Promise<KctlError> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (text.length < 64 * 1024) text += chunk.toString('utf8');
  }
  let wire: WireError | undefined;
  try {
    const parsed = WireError.safeParse((JSON.parse(text) as { error?: unknown }).error);
    if (parsed.success) wire = parsed.data;
  } catch {
    // not JSON: the status says enough
  }
  return new KctlError(
    wire?.code ?? 'io_error',
    `Bundle file "${path}": HTTP ${res.statusCode}${wire ? `: ${wire.message}` : ''}`,
    {
      retryable: (res.statusCode ?? 500) >= 500,
    },
  );
}
