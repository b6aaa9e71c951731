import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { bundlePathProblem, type SignedBundleManifest } from '../../proto/bundle.js';
import { KctlError } from '../../proto/errors.js';
import { hasControlCharacters, quoteInput } from '../../proto/validators.js';
import type { Route } from '../http-router.js';
import type { ControllerMetrics } from '../metrics.js';
import { identityOfPeer } from '../pki.js';
import { sameSerial } from '../server.js';
import type { HostStateReader } from '../store/host-state-cache.js';
import { readManifest } from './manifest.js';
import { signManifest } from './sign.js';

export interface BundleRouteDeps {
  /** the bundle directory; undefined when this controller serves none */
  bundleDir: string | undefined;
  ca: { certPem: string; keyPem: string };
  /** hosts' standing, to explain a refusal (store/host-state-cache.ts) */
  store: HostStateReader;
  metrics: Pick<ControllerMetrics, 'refuseConnection'>;
  log: Logger;
}

function noBundle(): KctlError {
  return new KctlError('not_found', 'This controller serves no offline bundle', {
    details: {
      remedy: 'build one with "kctl bundle build --out DIR" and run the controller with --bundle DIR',
    },
  });
}

/**
 * Why the router refused a bundle request, in words the agent's operator can act on; counted and
 * logged like the agent channel's refusals. The decision itself stays with the router (S14).
 */
export function explainRefusal(
  req: IncomingMessage,
  error: KctlError,
  deps: Pick<BundleRouteDeps, 'store' | 'metrics' | 'log'>,
): KctlError {
  const socket = req.socket as TLSSocket;
  let result = error;
  if (!socket.authorized) {
    const offered = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
    result = offered
      ? new KctlError(
          'not_authenticated',
          'The bundle is served to enrolled hosts only: this client certificate was not issued by this controller',
        )
      : new KctlError(
          'not_authenticated',
          'The bundle is served to enrolled hosts only: present the host certificate issued at enrolment',
        );
  } else {
    const cert = socket.getPeerCertificate();
    const id = cert.raw ? identityOfPeer(cert.raw) : undefined;
    if (id?.kind === 'admin') {
      result = new KctlError(
        'forbidden',
        'The bundle is served to enrolled hosts only, not to admin credentials',
      );
    } else if (id?.kind === 'host') {
      const host = deps.store.getHostState(id.hostId);
      if (!host) result = new KctlError('unknown_host', 'This certificate belongs to no enrolled host');
      else if (host.state !== 'active')
        result = new KctlError('host_revoked', `Host "${host.name}" is revoked`);
      else if (!sameSerial(cert.serialNumber, host.certSerial))
        result = new KctlError('forbidden', 'This certificate was replaced by a newer one for this host');
    }
  }
  deps.metrics.refuseConnection(`bundle_${result.code}`);
  deps.log.warn(
    { ip: socket.remoteAddress ?? null, code: result.code, path: req.url?.slice(0, 256) },
    'bundle request refused',
  );
  return result;
}

/**
 * The bundle path a request names, or a not_found naming why and the segment: segments are decoded
 * one by one. A 404, not a 400: a name that cannot be decoded is a file the bundle cannot hold.
 */
export function requestedBundlePath(raw: string): string {
  const segments: string[] = [];
  for (const seg of raw.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw new KctlError(
        'not_found',
        `No such file in the bundle (bad percent-encoding in segment ${quoteInput(seg)})`,
      );
    }
    // an encoded slash or backslash would make one segment two: never a bundle name
    if (/[/\\]/.test(decoded) || hasControlCharacters(decoded))
      throw new KctlError(
        'not_found',
        `No such file in the bundle (encoded separator or control character in segment ${quoteInput(seg)})`,
      );
    segments.push(decoded);
  }
  const path = segments.join('/');
  const problem = bundlePathProblem(path);
  if (problem !== undefined)
    throw new KctlError('not_found', `No such file in the bundle (the path ${problem})`);
  return path;
}

/**
 * GET /v1/bundle/manifest and GET /v1/bundle/files/<path>, for enrolled, non-revoked hosts only
 * (auth 'host': the router's one check). The manifest is read per request, so a rebuilt bundle is
 * served without a restart; a file is served only when this manifest lists it, streamed.
 */
export function bundleRoutes(deps: BundleRouteDeps): Route[] {
  const onRefused = (req: IncomingMessage, error: KctlError): KctlError => explainRefusal(req, error, deps);
  return [
    {
      method: 'GET',
      path: '/v1/bundle/manifest',
      auth: 'host',
      onRefused,
      async handle(): Promise<SignedBundleManifest> {
        if (deps.bundleDir === undefined) throw noBundle();
        const { text } = await readManifest(deps.bundleDir);
        return { manifest: text, signature: signManifest(text, deps.ca.keyPem, deps.ca.certPem) };
      },
    },
    {
      method: 'GET',
      path: '/v1/bundle/files/*',
      auth: 'host',
      onRefused,
      async handle(ctx) {
        const dir = deps.bundleDir;
        if (dir === undefined) throw noBundle();
        const path = requestedBundlePath(ctx.params['*'] ?? '');
        const { manifest } = await readManifest(dir);
        if (!manifest.files.some((f) => f.path === path))
          throw new KctlError('not_found', `"${path}" is not in the bundle manifest`);
        // the file must really lie inside the bundle directory, whatever symlinks say
        const root = await realpath(dir);
        const real = await realpath(join(root, path)).catch(() => undefined);
        if (real === undefined || !real.startsWith(`${root}/`))
          throw new KctlError('not_found', `"${path}" is not inside the bundle directory`);
        const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
        if (!fh) throw new KctlError('not_found', `"${path}" cannot be opened in the bundle directory`);
        try {
          const s = await fh.stat();
          if (!s.isFile()) throw new KctlError('not_found', `"${path}" is not a regular file`);
          ctx.res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': s.size,
            'cache-control': 'no-store',
            'x-content-type-options': 'nosniff',
          });
          // streamed: a package never sits in memory whole, and the control channel's frame cap is not involved
          await pipeline(fh.createReadStream({ autoClose: false }), ctx.res);
        } finally {
          await fh.close();
        }
        return undefined;
      },
    },
  ];
}
