/**
 * The agent's network port: every connection the agent makes, except its WebSocket, goes through
 * one `Net` (agent/host/https-net.ts is the real one). Nothing trusts the system certificate store
 * (S3): a caller names the CA certificates to trust, or, for the one fetch of the controller CA
 * before it is pinned, says explicitly that the server is not verified.
 */

/** Whom a connection trusts: pinned CA certificates (PEM, one or many), or nobody yet. */
export type TlsTrust =
  | {
      ca: string;
      /** client certificate and key for mutual TLS with the controller */
      cert?: string;
      key?: string;
    }
  | { unverified: 'fetching-the-ca-to-pin' };

export interface JsonRequest {
  method: 'GET' | 'POST';
  url: string;
  body?: unknown;
  tls: TlsTrust;
  /** socket idle time before the request fails; default 15 s */
  timeoutMs?: number;
}

export interface FetchOptions {
  /** PEM certificates to trust (the host's CA bundle) */
  ca: string;
  /** default 1 MiB: a signing key is a few KiB */
  maxBytes?: number;
  /** for the whole fetch, redirects included; default 30 s */
  timeoutMs?: number;
  /** default 5; pkgs.k8s.io answers with a redirect to its CDN */
  maxRedirects?: number;
}

export interface StreamOptions {
  tls: Extract<TlsTrust, { ca: string }>;
  /** what is downloaded, for messages: `bundle file "pool/k/kubeadm.deb"` */
  label: string;
  /** no byte for this long fails the download; default 60 s */
  idleTimeoutMs?: number;
}

export interface Net {
  /**
   * One JSON request, answer capped at the wire's frame size. An HTTP error status becomes the
   * KctlError of the body's `error`, so the controller's codes reach the caller unchanged.
   */
  requestJson(request: JsonRequest): Promise<unknown>;
  /** One GET of an https URL (redirects must stay https), body capped; the body of a 200 answer. */
  fetchBytes(url: string, options: FetchOptions): Promise<Buffer>;
  /**
   * One GET whose 200 body is handed over as it arrives (for `Host.writeFileFromStream`, which
   * checks size and hash); any other status fails with the error the server's JSON body names.
   */
  openStream(url: string, options: StreamOptions): Promise<AsyncIterable<Uint8Array>>;
  /** true when the resolver answers for `name` within `timeoutMs` (getaddrinfo, as kubeadm's check) */
  resolves(name: string, timeoutMs: number): Promise<boolean>;
  /** true when a host answers a TCP connection to `address:port` (accepts or refuses) within `timeoutMs` */
  answers(address: string, port: number, timeoutMs: number): Promise<boolean>;
}
