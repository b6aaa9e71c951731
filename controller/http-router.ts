import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { KctlError, toWireError, type ErrorCode } from '../proto/errors.js';
import { parseJson } from '../proto/wire.js';
import { MAX_FRAME_BYTES } from '../proto/version.js';
import { decodePathSegment, parseRequestTarget } from './request-target.js';

/** Who may call a route. There is one check for all of them (S14); only 'public' routes skip it. */
export type RouteAuth = 'public' | 'admin' | 'host';

export type Caller =
  | { kind: 'anonymous'; ip: string | null }
  | { kind: 'admin'; name: string; ip: string | null }
  | { kind: 'host'; hostId: string; ip: string | null };

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  caller: Caller;
  /** `:name` segments, decoded (a bad encoding is a 400 before the handler runs); `*` stays raw */
  params: Record<string, string>;
  url: URL;
  /** reads and validates the JSON body; throws KctlError('invalid_frame') naming the field */
  body<T>(schema: z.ZodType<T>): Promise<T>;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** path with :params, e.g. /v1/admin/hosts/:name/revoke; a last segment `*` takes the rest, raw */
  path: string;
  auth: RouteAuth;
  handle(ctx: RequestContext): Promise<unknown>;
  /**
   * Called when the one authorisation check refuses a caller here: the route may count the
   * refusal and return a more precise error (say, why a certificate was not accepted).
   */
  onRefused?(req: IncomingMessage, error: KctlError): KctlError | undefined;
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  invalid_frame: 400,
  invalid_args: 400,
  invalid_spec: 400,
  unknown_op: 400,
  frame_too_large: 413,
  not_authenticated: 401,
  token_invalid: 401,
  token_expired: 401,
  token_exhausted: 401,
  forbidden: 403,
  host_revoked: 403,
  csr_invalid: 400,
  not_found: 404,
  unknown_host: 404,
  name_taken: 409,
  enroll_rate_limited: 429,
  protocol_mismatch: 400,
  host_offline: 503,
  timeout: 504,
  plan_stale: 409,
  cluster_busy: 409,
};

export function statusFor(code: ErrorCode): number {
  return STATUS_BY_CODE[code] ?? 500;
}

export class Router {
  constructor(private readonly routes: readonly Route[]) {}

  list(): readonly Route[] {
    return this.routes;
  }

  /** Resolves the caller from the TLS client certificate; the request path never changes who you are. */
  async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    identify: (socket: TLSSocket) => Caller,
  ): Promise<void> {
    const caller = identify(req.socket as TLSSocket);
    try {
      const url = parseRequestTarget(req.url);
      const match = this.match(req.method ?? 'GET', url.pathname);
      if (!match) throw new KctlError('not_found', `No route for ${req.method} ${url.pathname}`);
      const { route, params } = match;
      try {
        authorize(route.auth, caller);
      } catch (err) {
        throw (err instanceof KctlError ? route.onRefused?.(req, err) : undefined) ?? err;
      }
      // decoded only after authorisation: an anonymous caller learns nothing from a bad encoding
      const decoded = Object.fromEntries(
        Object.entries(params).map(([name, raw]) => [
          name,
          name === '*' ? raw : decodePathSegment(raw, name),
        ]),
      );
      const result = await route.handle({
        req,
        res,
        caller,
        params: decoded,
        url,
        body: (schema) => readJsonBody(req, schema),
      });
      if (!res.headersSent) sendJson(res, 200, result);
    } catch (err) {
      const wire = toWireError(err);
      if (!res.headersSent) sendJson(res, statusFor(wire.code), { error: wire });
      else res.end();
    }
  }

  private match(
    method: string,
    pathname: string,
  ): { route: Route; params: Record<string, string> } | undefined {
    const parts = pathname.split('/');
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const pattern = route.path.split('/');
      // a last segment `*` takes the rest of the path, raw (still percent-encoded) in params['*']
      const rest = pattern.at(-1) === '*';
      if (rest ? parts.length < pattern.length : pattern.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < pattern.length; i++) {
        const p = pattern[i] ?? '';
        const v = parts[i] ?? '';
        if (rest && i === pattern.length - 1) {
          const tail = parts.slice(i).join('/');
          if (tail === '') ok = false;
          else params['*'] = tail;
        } else if (p.startsWith(':')) {
          if (v === '') ok = false;
          else params[p.slice(1)] = v; // still percent-encoded; dispatch decodes after authorising
        } else if (p !== v) ok = false;
        if (!ok) break;
      }
      if (ok) return { route, params };
    }
    return undefined;
  }
}

export function authorize(auth: RouteAuth, caller: Caller): void {
  if (auth === 'public') return;
  if (caller.kind === 'anonymous') {
    throw new KctlError('not_authenticated', 'A client certificate issued by this controller is required');
  }
  if (auth !== caller.kind) {
    throw new KctlError('forbidden', `This route is for ${auth} credentials, not ${caller.kind}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

async function readJsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FRAME_BYTES) {
      throw new KctlError('frame_too_large', `request body exceeds ${MAX_FRAME_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const parsed = parseJson(Buffer.concat(chunks), schema, 'request body');
  if (!parsed.ok) throw KctlError.fromWire(parsed.error);
  return parsed.value;
}
