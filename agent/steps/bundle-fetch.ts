import { KctlError } from '../../proto/errors.js';
// loaded with the first bundle request: an idle agent does not hold the bundle schemas (issue 13 part 7)
import type { SignedBundleManifest } from '../../proto/bundle.js';
import type { Net } from '../host/net.js';

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
  /** read per request: the replica the agent is connected to (a fixed URL in tests) */
  controller: string | (() => string);
  credentials: () => AgentCredentials;
  net: Net;
}): BundleSource {
  const base = (): string =>
    (typeof options.controller === 'string' ? options.controller : options.controller()).replace(/\/+$/, '');
  const tls = (): { ca: string; cert: string; key: string } => {
    const c = options.credentials();
    return { ca: c.caPem, cert: c.certPem, key: c.keyPem };
  };
  return {
    caPem: () => options.credentials().caPem,
    async manifest() {
      const url = `${base()}/v1/bundle/manifest`;
      const body = await options.net.requestJson({
        method: 'GET',
        url,
        tls: tls(),
        timeoutMs: IDLE_TIMEOUT_MS,
      });
      const { SignedBundleManifest } = await import('../../proto/bundle.js');
      const parsed = SignedBundleManifest.safeParse(body);
      if (!parsed.success) throw new KctlError('invalid_frame', `${url} answered with an unexpected body`);
      return parsed.data;
    },
    async file(path) {
      const { bundleFileUrlPath } = await import('../../proto/bundle.js');
      return options.net.openStream(`${base()}${bundleFileUrlPath(path)}`, {
        tls: tls(),
        label: `bundle file "${path}"`,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
      });
    },
  };
}
