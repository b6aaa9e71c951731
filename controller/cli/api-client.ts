import { request } from 'node:https';
import type { z } from 'zod';
import { KctlError, WireError, describeZodError } from '../../proto/errors.js';
import type { ClientConfig } from './client-config.js';

/** kctl's side of the admin API: mutual TLS with the admin certificate, the controller CA pinned. */
export class ApiClient {
  constructor(private readonly config: ClientConfig) {}

  get<T>(path: string, schema: z.ZodType<T>, timeoutMs?: number): Promise<T> {
    return this.call('GET', path, undefined, schema, timeoutMs);
  }

  post<T>(path: string, body: unknown, schema: z.ZodType<T>, timeoutMs?: number): Promise<T> {
    return this.call('POST', path, body, schema, timeoutMs);
  }

  delete<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    return this.call('DELETE', path, undefined, schema);
  }

  /** POSTs a body and hands each NDJSON line of the streamed answer to onLine as it arrives */
  stream(path: string, body: unknown, onLine: (line: string) => void): Promise<void> {
    const url = new URL(path, this.config.controller);
    const payload = JSON.stringify(body);
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          method: 'POST',
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          path: url.pathname,
          ca: [this.config.caPem],
          cert: this.config.certPem,
          key: this.config.keyPem,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
          agent: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            accept: 'application/x-ndjson',
          },
        },
        (res) => {
          let buffered = '';
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            if ((res.statusCode ?? 500) >= 400) return void chunks.push(c);
            buffered += c.toString('utf8');
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (line.trim() !== '') onLine(line);
            }
          });
          res.on('end', () => {
            if ((res.statusCode ?? 500) >= 400) {
              try {
                const err = WireError.safeParse(
                  (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown }).error,
                );
                if (err.success) return reject(KctlError.fromWire(err.data));
              } catch {
                // fall through
              }
              return reject(new KctlError('internal', `POST ${url.pathname}: HTTP ${res.statusCode}`));
            }
            if (buffered.trim() !== '') onLine(buffered);
            resolve();
          });
          res.on('error', reject);
        },
      );
      req.on('error', (err) =>
        reject(
          new KctlError('io_error', `Cannot reach the controller at ${url.origin}: ${err.message}`, {
            retryable: true,
          }),
        ),
      );
      req.end(payload);
    });
  }

  /** a plain-text route such as /metrics */
  text(path: string): Promise<string> {
    return this.call('GET', path, undefined, undefined);
  }

  private call<T>(
    method: string,
    path: string,
    body: unknown,
    schema: z.ZodType<T> | undefined,
    timeoutMs = 120_000,
  ): Promise<T> {
    const url = new URL(path, this.config.controller);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          method,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          path: url.pathname + url.search,
          ca: [this.config.caPem],
          cert: this.config.certPem,
          key: this.config.keyPem,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
          agent: false,
          timeout: timeoutMs,
          headers: {
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (schema === undefined && (res.statusCode ?? 500) < 400) return resolve(text as T);
            let data: unknown;
            try {
              data = JSON.parse(text);
            } catch {
              return reject(
                new KctlError(
                  'invalid_frame',
                  `${method} ${url.pathname}: HTTP ${res.statusCode}, body is not JSON`,
                ),
              );
            }
            if ((res.statusCode ?? 500) >= 400) {
              const err = WireError.safeParse((data as { error?: unknown }).error);
              return reject(
                err.success
                  ? KctlError.fromWire(err.data)
                  : new KctlError('internal', `${method} ${url.pathname}: HTTP ${res.statusCode}`),
              );
            }
            if (schema === undefined) return resolve(text as T);
            const parsed = schema.safeParse(data);
            if (!parsed.success) {
              return reject(
                new KctlError(
                  'invalid_frame',
                  `${method} ${url.pathname}: ${describeZodError(parsed.error)}`,
                ),
              );
            }
            resolve(parsed.data);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new KctlError('timeout', `${method} ${url.pathname} timed out`, { retryable: true })),
      );
      req.on('error', (err) =>
        reject(
          err instanceof KctlError
            ? err
            : new KctlError('io_error', `Cannot reach the controller at ${url.origin}: ${err.message}`, {
                retryable: true,
                details: {
                  remedy: 'is "kctl controller run" running, and is the URL in the client config right?',
                },
              }),
        ),
      );
      req.end(payload);
    });
  }
}
