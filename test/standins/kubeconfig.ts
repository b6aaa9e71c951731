import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import * as z from 'zod';
import type { ClusterState } from './cluster-state.js';
import { splitHostPort } from './k8s-values.js';
import { caCertHashOf, certInfo, isSignedBy, keyMatchesCert, type CertAndKey } from './standin-pki.js';
import { StandinExit, type StandinEnv } from './standin-env.js';

/**
 * kubeconfig files as kubeadm writes them (client certificate and key embedded) and the checks a
 * client makes when it uses one: the server must be this cluster's API endpoint, the CA must be the
 * cluster CA (TLS), and the client certificate must be signed by it (authentication).
 */

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export function renderKubeconfig(options: {
  clusterName: string;
  server: string;
  caCertPem: string;
  userName: string;
  client: CertAndKey | { certFile: string; keyFile: string };
}): string {
  const context = `${options.userName}@${options.clusterName}`;
  const user =
    'certPem' in options.client
      ? {
          'client-certificate-data': b64(options.client.certPem),
          'client-key-data': b64(options.client.keyPem),
        }
      : { 'client-certificate': options.client.certFile, 'client-key': options.client.keyFile };
  return toYaml({
    apiVersion: 'v1',
    clusters: [
      {
        cluster: { 'certificate-authority-data': b64(options.caCertPem), server: options.server },
        name: options.clusterName,
      },
    ],
    contexts: [{ context: { cluster: options.clusterName, user: options.userName }, name: context }],
    'current-context': context,
    kind: 'Config',
    preferences: {},
    users: [{ name: options.userName, user }],
  });
}

const Kubeconfig = z.object({
  clusters: z.array(
    z.object({
      name: z.string(),
      cluster: z.object({
        server: z.string(),
        'certificate-authority-data': z.string().optional(),
        'certificate-authority': z.string().optional(),
      }),
    }),
  ),
  contexts: z.array(
    z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string() }) }),
  ),
  'current-context': z.string(),
  users: z.array(
    z.object({
      name: z.string(),
      user: z.object({
        'client-certificate-data': z.string().optional(),
        'client-key-data': z.string().optional(),
        'client-certificate': z.string().optional(),
        'client-key': z.string().optional(),
        token: z.string().optional(),
      }),
    }),
  ),
});

export interface KubeconfigIdentity {
  server: string;
  user: string;
  commonName: string;
  organizations: string[];
}

/** host:port of every API server a client can reach: the cluster endpoint and each control plane's own. */
export function reachableEndpoints(state: ClusterState): string[] {
  if (!state.cluster) return [];
  const cps = state.nodes
    .filter((n) => n.controlPlane && n.kubeletRunning && n.apiEndpoint)
    .map((n) => n.apiEndpoint ?? '');
  return [state.cluster.controlPlaneEndpoint, ...cps].map((e) => e.toLowerCase());
}

export function endpointOfServer(server: string): string {
  const m = /^https:\/\/([^/]+)\/?$/.exec(server);
  const hp = m ? splitHostPort(m[1] ?? '') : undefined;
  if (!hp) return server;
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port ?? 443}`.toLowerCase();
}

/**
 * Loads a kubeconfig from the host and checks it against the cluster like a Kubernetes client would.
 * `tool` words the errors as that tool would.
 */
export function useKubeconfig(
  env: StandinEnv,
  path: string,
  state: ClusterState,
  tool: 'kubectl' | 'kubeadm',
): KubeconfigIdentity {
  const fail = (message: string): never => {
    throw new StandinExit(message);
  };
  let text: string;
  try {
    text = readFileSync(env.hostPath(path), 'utf8');
  } catch {
    return fail(
      tool === 'kubectl'
        ? `error: stat ${path}: no such file or directory`
        : `failed to load admin kubeconfig: open ${path}: no such file or directory\nTo see the stack trace of this error execute with --v=5 or higher`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return fail(
      `error: error loading config file "${path}": yaml: ${(err as Error).message.split('\n')[0] ?? ''}`,
    );
  }
  const parsed = Kubeconfig.safeParse(raw);
  if (!parsed.success) return fail(`error: error loading config file "${path}": not a complete kubeconfig`);
  const kc = parsed.data;
  const ctx = kc.contexts.find((c) => c.name === kc['current-context']);
  const cluster = kc.clusters.find((c) => c.name === ctx?.context.cluster);
  const user = kc.users.find((u) => u.name === ctx?.context.user);
  if (!ctx || !cluster || !user) {
    return fail(`error: context was not found for specified context: ${kc['current-context']}`);
  }
  const server = cluster.cluster.server;
  const endpoint = endpointOfServer(server);
  if (!reachableEndpoints(state).includes(endpoint)) {
    return fail(
      `The connection to the server ${endpoint} was refused - did you specify the right host or port?`,
    );
  }
  const readRef = (data: string | undefined, file: string | undefined): string | undefined => {
    if (data) return Buffer.from(data, 'base64').toString('utf8');
    if (file) {
      try {
        return readFileSync(env.hostPath(file), 'utf8');
      } catch {
        return fail(`error: unable to read client-cert ${file}: open ${file}: no such file or directory`);
      }
    }
    return undefined;
  };
  const caPem = readRef(
    cluster.cluster['certificate-authority-data'],
    cluster.cluster['certificate-authority'],
  );
  const caHash = (() => {
    try {
      return caPem ? caCertHashOf(caPem) : undefined;
    } catch {
      return undefined;
    }
  })();
  const clusterCa = state.cluster?.caCertPem ?? '';
  if (caHash === undefined || caHash !== state.cluster?.caCertHash) {
    return fail(
      `Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority`,
    );
  }
  const certPem = readRef(user.user['client-certificate-data'], user.user['client-certificate']);
  const keyPem = readRef(user.user['client-key-data'], user.user['client-key']);
  if (!certPem || !keyPem || !isSignedBy(certPem, clusterCa) || !keyMatchesCert(keyPem, certPem)) {
    return fail('error: You must be logged in to the server (Unauthorized)');
  }
  const info = certInfo(certPem);
  const now = env.now();
  if (now < info.notBefore || now >= info.notAfter) {
    return fail('error: You must be logged in to the server (Unauthorized)');
  }
  return { server, user: user.name, commonName: info.commonName, organizations: info.organizations };
}
