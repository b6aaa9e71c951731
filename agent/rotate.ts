import type { Logger } from 'pino';
import { KctlError } from '../proto/errors.js';
import type { Net } from './host/net.js';
import type { StateDir } from './host/state-dir.js';
import { certificateHostId, createAgentKeyAndCsr, shouldRotate } from './identity.js';
import { saveCredential, type AgentIdentity } from './enroll.js';

/**
 * S6: at two thirds of its life the certificate is renewed over mutual TLS with the current one;
 * a new key is made here and the old pair is replaced in one crash-safe step.
 */
export async function rotateIfDue(options: {
  controller: string;
  identity: AgentIdentity;
  state: StateDir;
  log: Logger;
  net: Net;
  now?: number;
  force?: boolean;
}): Promise<AgentIdentity> {
  const { identity, log } = options;
  if (!options.force && !shouldRotate(identity.certPem, options.now ?? Date.now())) return identity;
  const { keyPem, csrPem } = await createAgentKeyAndCsr();
  // loaded when a rotation is due, not by an idle agent (issue 13 part 7)
  const { RenewResponse } = await import('../proto/admin-api.js');
  const parsed = RenewResponse.safeParse(
    await options.net.requestJson({
      method: 'POST',
      url: `${options.controller}/v1/agent/renew`,
      tls: { ca: identity.caPem, cert: identity.certPem, key: identity.keyPem },
      body: { csrPem },
    }),
  );
  if (!parsed.success)
    throw new KctlError('invalid_frame', 'The controller answered renewal with an unexpected body');
  if (certificateHostId(parsed.data.certPem) !== identity.hostId) {
    throw new KctlError('forbidden', 'The renewed certificate names another host; keeping the current one');
  }
  const next = { ...identity, keyPem, certPem: parsed.data.certPem };
  await saveCredential(options.state, next);
  log.info({ hostId: identity.hostId }, 'certificate rotated');
  return next;
}
