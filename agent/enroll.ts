import { z } from 'zod';
import type { Logger } from 'pino';
import { KctlError, toWireError } from '../proto/errors.js';
import { caPinOf, pinMatches } from '../proto/ca-pin.js';
import { PROTOCOL_VERSION } from '../proto/version.js';
import type { HostFacts } from '../proto/facts.js';
import type { Net } from './host/net.js';
import type { StateDir } from './host/state-dir.js';
import { createAgentKeyAndCsr } from './identity.js';
import { backoffDelay, ControllerRotation } from './controller-rotation.js';

export interface AgentIdentity {
  hostId: string;
  hostName: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

const IdentityFile = z.strictObject({ hostId: z.string(), hostName: z.string() });

const FILES = { identity: 'identity.json', ca: 'ca.crt', cert: 'agent.crt', key: 'agent.key' } as const;

/** Loads the identity from the state dir, or undefined when this agent has not enrolled yet. */
export async function loadIdentity(state: StateDir): Promise<AgentIdentity | undefined> {
  await finishCredentialSwap(state);
  const [idText, caPem, certPem, keyPem] = await Promise.all([
    state.read(FILES.identity),
    state.read(FILES.ca),
    state.read(FILES.cert),
    state.read(FILES.key),
  ]);
  if (idText === undefined || caPem === undefined || certPem === undefined || keyPem === undefined)
    return undefined;
  const parsed = IdentityFile.safeParse(JSON.parse(idText));
  if (!parsed.success) {
    throw new KctlError(
      'invalid_config',
      `${state.path(FILES.identity)} is damaged; remove the state dir and enroll again`,
    );
  }
  return { ...parsed.data, caPem, certPem, keyPem };
}

/**
 * First contact: fetch the controller CA, refuse it unless its SPKI hash is one of our pins (S2),
 * then, over a connection verified with that CA only, trade the token and a CSR for a certificate.
 * The private key is made here and never leaves the host (S4).
 */
export async function enroll(options: {
  controller: string;
  pins: string[];
  skipCaVerification: boolean;
  token: string;
  facts: HostFacts;
  labels: Record<string, string>;
  state: StateDir;
  log: Logger;
  net: Net;
}): Promise<AgentIdentity> {
  const { controller, log, net } = options;
  const caBody = z.strictObject({ caPem: z.string() }).safeParse(
    await net.requestJson({
      method: 'GET',
      url: `${controller}/v1/ca`,
      tls: { unverified: 'fetching-the-ca-to-pin' },
    }),
  );
  if (!caBody.success) throw new KctlError('invalid_frame', `${controller}/v1/ca did not return a CA`);
  const caPem = caBody.data.caPem;
  const pin = caPinOf(caPem);
  if (!options.skipCaVerification && !pinMatches(pin, options.pins)) {
    throw new KctlError(
      'ca_pin_mismatch',
      `The controller at ${controller} presents CA ${pin}, which matches none of the configured pins`,
      { details: { remedy: 'check caPin in agent.yaml against the pin printed by "kctl controller init"' } },
    );
  }
  const { keyPem, csrPem } = await pendingKeyAndCsr(options.state);
  // the admin API's schemas are needed once, not held by an enrolled agent (issue 13 part 7)
  const { EnrollResponse } = await import('../proto/admin-api.js');
  const response = EnrollResponse.safeParse(
    await net.requestJson({
      method: 'POST',
      url: `${controller}/v1/enroll`,
      tls: { ca: caPem },
      body: {
        token: options.token,
        csrPem,
        facts: options.facts,
        labels: options.labels,
        protocolVersion: PROTOCOL_VERSION,
      },
    }),
  );
  if (!response.success)
    throw new KctlError('invalid_frame', 'The controller answered enrollment with an unexpected body');
  const identity: AgentIdentity = {
    hostId: response.data.hostId,
    hostName: response.data.hostName,
    caPem,
    certPem: response.data.certPem,
    keyPem,
  };
  await options.state.write(FILES.ca, caPem);
  await saveCredential(options.state, identity);
  await options.state.write(
    FILES.identity,
    JSON.stringify({ hostId: identity.hostId, hostName: identity.hostName }),
  );
  await options.state.remove(PENDING);
  log.info({ hostId: identity.hostId, host: identity.hostName }, 'enrolled');
  return identity;
}

/**
 * Enrollment against the controller's replicas: each attempt goes to the next URL (starting at a
 * random one), with the connection's backoff (full jitter per attempt, growing per full round).
 * A wrong pin or a dead token will not fix itself on another replica of the same fleet: those
 * errors end the loop (systemd shows the reason); unreachable or busy replicas are retried.
 */
export async function enrollWithFailover(
  options: Omit<Parameters<typeof enroll>[0], 'controller' | 'facts'> & {
    controllers: readonly string[];
    facts: () => Promise<HostFacts>;
    retry: { initialDelayMs: number; maxDelayMs: number };
    random?: () => number;
    sleep?: (ms: number) => Promise<void>;
  },
): Promise<{ identity: AgentIdentity; controller: string }> {
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const rotation = new ControllerRotation(options.controllers, random);
  for (;;) {
    const controller = rotation.current();
    try {
      const identity = await enroll({ ...options, controller, facts: await options.facts() });
      return { identity, controller };
    } catch (err) {
      const wire = toWireError(err);
      if (!wire.retryable) throw err;
      const delay = backoffDelay(
        rotation.failed(),
        options.retry.initialDelayMs,
        options.retry.maxDelayMs,
        random,
      );
      options.log.warn(
        { controller, code: wire.code, reason: wire.message, next: rotation.current(), retryInMs: delay },
        'enrollment failed',
      );
      await sleep(delay);
    }
  }
}

const PENDING = 'enroll-pending.json';
const PendingEnrollment = z.strictObject({ keyPem: z.string(), csrPem: z.string() });

/**
 * The key and CSR of this host's enrollment, made once and kept (0600) until the identity is saved:
 * every retry sends the same CSR, so a reply lost to a crash on either side is answered again by the
 * controller with the same certificate instead of "already enrolled".
 */
async function pendingKeyAndCsr(state: StateDir): Promise<{ keyPem: string; csrPem: string }> {
  const text = await state.read(PENDING);
  if (text !== undefined) {
    try {
      const pending = PendingEnrollment.safeParse(JSON.parse(text));
      if (pending.success) return pending.data;
    } catch {
      // a damaged file (it is written atomically, so only by hand): make a new key below
    }
  }
  const made = await createAgentKeyAndCsr();
  await state.write(PENDING, JSON.stringify(made));
  return made;
}

const NEXT = 'credential-next.json';
const NextCredential = z.strictObject({ keyPem: z.string(), certPem: z.string() });

/**
 * Replaces key and certificate as one step: the pair goes to one file first (atomic), then to the
 * two files, then that file is removed. A crash in between is finished at the next start.
 */
export async function saveCredential(
  state: StateDir,
  identity: Pick<AgentIdentity, 'keyPem' | 'certPem'>,
): Promise<void> {
  await state.write(NEXT, JSON.stringify({ keyPem: identity.keyPem, certPem: identity.certPem }));
  await finishCredentialSwap(state);
}

async function finishCredentialSwap(state: StateDir): Promise<void> {
  const text = await state.read(NEXT);
  if (text === undefined) return;
  const next = NextCredential.safeParse(JSON.parse(text));
  if (next.success) {
    await state.write(FILES.key, next.data.keyPem);
    await state.write(FILES.cert, next.data.certPem);
  }
  await state.remove(NEXT);
}
