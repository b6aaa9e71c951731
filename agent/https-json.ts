import { request } from 'node:https';
import { KctlError, WireError } from '../proto/errors.js';
import { MAX_FRAME_BYTES } from '../proto/version.js';

export interface HttpsJsonOptions {
  method: 'GET' | 'POST';
  url: string;
  body?: unknown;
  /** the pinned controller CA; undefined only for the one unverified fetch of the CA itself */
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

/**
 * One JSON request to the controller. Never consults the system trust store (S3): either the pinned
 * CA is given, or the caller explicitly asks for an unverified connection to fetch the CA and pin it.
 */
export function httpsJson(options: HttpsJsonOptions): Promise<unknown> {
  const url = new URL(options.url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: options.method,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || 443,
        path: url.pathname + url.search,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
        ...(options.ca !== undefined
          ? { ca: [options.ca], rejectUnauthorized: true }
          : { rejectUnauthorized: false }),
        ...(options.cert !== undefined ? { cert: options.cert } : {}),
        ...(options.key !== undefined ? { key: options.key } : {}),
        minVersion: 'TLSv1.2',
        timeout: options.timeoutMs ?? 15_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_FRAME_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown;
          try {
            data = JSON.parse(text);
          } catch {
            return reject(
              new KctlError(
                'invalid_frame',
                `${options.method} ${url.pathname}: HTTP ${res.statusCode}, not JSON`,
              ),
            );
          }
          if ((res.statusCode ?? 500) >= 400) {
            const parsed = WireError.safeParse((data as { error?: unknown }).error);
            if (parsed.success) return reject(KctlError.fromWire(parsed.data));
            return reject(
              new KctlError('internal', `${options.method} ${url.pathname}: HTTP ${res.statusCode}`),
            );
          }
          resolve(data);
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new KctlError('timeout', `${options.method} ${url.href} timed out`, { retryable: true })),
    );
    req.on('error', (err) =>
      reject(
        err instanceof KctlError
          ? err
          : new KctlError('io_error', `Cannot reach controller at ${url.origin}: ${err.message}`, {
              retryable: true,
              cause: err,
            }),
      ),
    );
    req.end(payload);
  });
}
