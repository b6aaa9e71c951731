import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { KctlError, WireError } from '../../proto/errors.js';
import { MAX_FRAME_BYTES } from '../../proto/version.js';
import { tcpAnswers } from './address-probe.js';
import type { FetchOptions, JsonRequest, Net, StreamOptions, TlsTrust } from './net.js';

const JSON_TIMEOUT_MS = 15_000;
const STREAM_IDLE_TIMEOUT_MS = 60_000;
const REDIRECTS = [301, 302, 303, 307, 308];

/** The agent's one HTTPS client (node:https), behind the `Net` port. */
export const httpsNet: Net = {
  requestJson,
  fetchBytes,
  openStream,
  resolves,
  answers: tcpAnswers,
};

/** node:https options for one request to `url`: TLS 1.2+, no shared agent, never the system CA list. */
function requestOptions(url: URL, tls: TlsTrust, extra: RequestOptions = {}): RequestOptions {
  return {
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || 443,
    path: url.pathname + url.search,
    ...('ca' in tls
      ? {
          ca: [tls.ca],
          rejectUnauthorized: true,
          ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
          ...(tls.key !== undefined ? { key: tls.key } : {}),
        }
      : { rejectUnauthorized: false }),
    minVersion: 'TLSv1.2',
    agent: false,
    ...extra,
  };
}

function requestJson(options: JsonRequest): Promise<unknown> {
  const url = new URL(options.url);
  const what = `${options.method} ${url.pathname}`;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const ioError = (err: Error): KctlError =>
      err instanceof KctlError
        ? err
        : new KctlError('io_error', `Cannot reach controller at ${url.origin}: ${err.message}`, {
            retryable: true,
            cause: err,
          });
    const req = request(
      requestOptions(url, options.tls, {
        method: options.method,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
        timeout: options.timeoutMs ?? JSON_TIMEOUT_MS,
      }),
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooBig = false;
        res.on('data', (c: Buffer) => {
          if (tooBig) return;
          size += c.length;
          if (size <= MAX_FRAME_BYTES) {
            chunks.push(c);
            return;
          }
          tooBig = true;
          reject(new KctlError('invalid_frame', `${what}: answer larger than ${MAX_FRAME_BYTES} bytes`));
          req.destroy();
        });
        res.on('error', (err) => reject(ioError(err)));
        res.on('end', () => {
          if (tooBig) return;
          const status = res.statusCode ?? 500;
          let data: unknown;
          try {
            data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new KctlError('invalid_frame', `${what}: HTTP ${status}, not JSON`));
          }
          if (status >= 400) {
            const parsed = WireError.safeParse((data as { error?: unknown } | null)?.error);
            if (parsed.success) return reject(KctlError.fromWire(parsed.data));
            return reject(new KctlError('internal', `${what}: HTTP ${status}`));
          }
          resolve(data);
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new KctlError('timeout', `${options.method} ${url.href} timed out`, { retryable: true })),
    );
    req.on('error', (err) => reject(ioError(err)));
    req.end(payload);
  });
}

function fetchError(url: string, message: string, cause?: unknown): KctlError {
  return new KctlError('program_failed', `Cannot fetch ${url}: ${message}`, {
    retryable: true,
    ...(cause !== undefined ? { cause } : {}),
  });
}

async function fetchBytes(url: string, options: FetchOptions): Promise<Buffer> {
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
  options: FetchOptions,
  timeoutMs: number,
): Promise<{ body: Buffer; location?: string }> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const href = url.toString();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(fetchError(href, `no answer in ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err instanceof KctlError ? err : fetchError(href, err.message, err));
    };
    const req = request(
      requestOptions(
        url,
        { ca: options.ca },
        { method: 'GET', headers: { accept: '*/*', 'user-agent': 'kctl-agent' } },
      ),
      (res) => {
        const status = res.statusCode ?? 0;
        if (REDIRECTS.includes(status) && res.headers.location !== undefined) {
          res.resume();
          clearTimeout(timer);
          resolve({ body: Buffer.alloc(0), location: res.headers.location });
          return;
        }
        if (status !== 200) {
          res.resume();
          fail(fetchError(href, `HTTP ${status}`));
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
          fail(fetchError(href, `more than ${maxBytes} bytes`));
          req.destroy();
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (!tooBig) resolve({ body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

function openStream(url: string, options: StreamOptions): Promise<AsyncIterable<Uint8Array>> {
  const parsed = new URL(url);
  const idleMs = options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let body: IncomingMessage | undefined;
    const req = request(requestOptions(parsed, options.tls, { method: 'GET', timeout: idleMs }), (res) => {
      if (res.statusCode !== 200) return void refusal(res, options.label).then(reject, reject);
      body = res;
      resolve(res);
    });
    req.on('timeout', () => {
      const err = new KctlError('timeout', `Cannot fetch ${options.label}: no data for ${idleMs} ms`, {
        retryable: true,
      });
      // once the body is handed over, its reader must see why it stopped, not a bare "aborted"
      body?.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err) =>
      reject(
        err instanceof KctlError
          ? err
          : new KctlError('io_error', `Cannot fetch ${options.label} from ${parsed.origin}: ${err.message}`, {
              retryable: true,
              cause: err,
            }),
      ),
    );
    req.end();
  });
}

/** The server's error for a refused download (a small JSON body), as a KctlError naming what was asked. */
async function refusal(res: IncomingMessage, label: string): Promise<KctlError> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (text.length < 64 * 1024) text += chunk.toString('utf8');
  }
  let wire: WireError | undefined;
  try {
    const parsed = WireError.safeParse((JSON.parse(text) as { error?: unknown } | null)?.error);
    if (parsed.success) wire = parsed.data;
  } catch {
    // not JSON: the status says enough
  }
  return new KctlError(
    wire?.code ?? 'io_error',
    `Cannot fetch ${label}: HTTP ${res.statusCode}${wire ? `: ${wire.message}` : ''}`,
    { retryable: (res.statusCode ?? 500) >= 500 },
  );
}

/** getaddrinfo through libuv's pool, abandoned after `timeoutMs` so a dead resolver cannot stall a caller. */
function resolves(name: string, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  const answer = lookup(name).then(
    () => true,
    () => false,
  );
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}
