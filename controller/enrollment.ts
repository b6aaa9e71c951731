import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { KctlError } from '../proto/errors.js';
import type { EnrollRequest, EnrollResponse } from '../proto/admin-api.js';
import { PROTOCOL_VERSION } from '../proto/version.js';
import type { Store } from './store/store.js';
import type { ControllerMetrics } from './metrics.js';
import { parseTokenString, verifyTokenSecret } from './tokens.js';
import { signAgentCsr, type CaKeyPair } from './pki.js';

const HOST_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Enrollment attempts allowed per source address per minute, and in flight at once (S12). */
export const ENROLL_RATE = { perIpPerMinute: 20, concurrent: 32 };

/**
 * Exchanges a bootstrap token and a CSR made on the host for a client certificate. The certificate
 * carries only what the registry decides (a fresh host id); nothing the agent claims becomes identity.
 */
export class Enrollment {
  private readonly attempts = new Map<string, number[]>();
  private inFlight = 0;

  constructor(
    private readonly deps: {
      store: Store;
      ca: CaKeyPair;
      log: Logger;
      metrics: ControllerMetrics;
      certValidityDays: number;
      now?: () => number;
    },
  ) {}

  async enroll(request: EnrollRequest, ip: string | null): Promise<EnrollResponse> {
    const now = this.deps.now?.() ?? Date.now();
    this.rateLimit(ip ?? 'unknown', now);
    if (this.inFlight >= ENROLL_RATE.concurrent) {
      throw this.refuse('enroll_rate_limited', 'Too many enrollments in flight; retry shortly', ip, true);
    }
    this.inFlight++;
    try {
      return await this.enrollChecked(request, ip, now);
    } finally {
      this.inFlight--;
    }
  }

  private async enrollChecked(
    request: EnrollRequest,
    ip: string | null,
    now: number,
  ): Promise<EnrollResponse> {
    if (request.protocolVersion !== PROTOCOL_VERSION) {
      throw this.refuse(
        'protocol_mismatch',
        `protocol version mismatch: agent speaks ${request.protocolVersion}, controller speaks ${PROTOCOL_VERSION}`,
        ip,
      );
    }
    let token: { id: string; secret: string };
    try {
      token = parseTokenString(request.token);
    } catch {
      throw this.refuse('token_invalid', 'Bootstrap token is malformed (want [a-z0-9]{6}.[a-z0-9]{16})', ip);
    }
    const use = this.deps.store.useToken(token.id, (hash) => verifyTokenSecret(token.secret, hash), now);
    if (!use.ok) {
      switch (use.reason) {
        case 'unknown':
        case 'mismatch':
          throw this.refuse(
            'token_invalid',
            `Bootstrap token "${token.id}" is not known to this controller`,
            ip,
          );
        case 'expired':
          throw this.refuse('token_expired', `Bootstrap token "${token.id}" has expired`, ip);
        case 'exhausted':
          throw this.refuse('token_exhausted', `Bootstrap token "${token.id}" has no uses left`, ip);
      }
    }
    const name = request.facts.hostname.toLowerCase();
    try {
      if (!HOST_NAME.test(name) || name.length > 253) {
        throw this.refuse('invalid_args', `Host name "${name}" is not a valid RFC 1123 name`, ip);
      }
      if (this.deps.store.getHostByName(name)) {
        throw this.refuse(
          'name_taken',
          `A host named "${name}" is already enrolled; remove it first with "kctl hosts delete ${name}"`,
          ip,
        );
      }
      const hostId = randomUUID();
      const signed = await signAgentCsr(this.deps.ca, request.csrPem, {
        hostId,
        validityDays: this.deps.certValidityDays,
      });
      // token labels win over what the agent asks for: a host cannot promote itself
      const labels = { ...request.labels, ...use.token.labels };
      this.deps.store.transaction(() => {
        this.deps.store.createHost({
          id: hostId,
          name,
          labels,
          state: 'active',
          certSerial: signed.serial,
          certNotAfter: signed.notAfter,
          enrolledAt: now,
        });
        this.deps.store.recordHostSeen(hostId, { at: now, ip, facts: request.facts });
        this.deps.store.audit({
          actor: `token:${token.id}`,
          action: 'host.enroll',
          target: name,
          details: { hostId, ip, serial: signed.serial },
        });
      });
      this.deps.metrics.countEnrollment('ok');
      this.deps.log.info({ hostId, host: name, tokenId: token.id, ip }, 'host enrolled');
      return { hostId, hostName: name, certPem: signed.certPem, caPem: this.deps.ca.certPem };
    } catch (err) {
      this.deps.store.refundToken(token.id);
      if (err instanceof KctlError) throw err;
      throw this.refuse('csr_invalid', `Certificate request refused: ${(err as Error).message}`, ip);
    }
  }

  private rateLimit(ip: string, now: number): void {
    const recent = (this.attempts.get(ip) ?? []).filter((t) => now - t < 60_000);
    recent.push(now);
    this.attempts.set(ip, recent);
    if (this.attempts.size > 10_000) this.attempts.clear(); // bounded memory under a spray of addresses
    if (recent.length > ENROLL_RATE.perIpPerMinute) {
      throw this.refuse(
        'enroll_rate_limited',
        `Too many enrollment attempts from ${ip}; retry in a minute`,
        ip,
        true,
      );
    }
  }

  private refuse(code: KctlError['code'], message: string, ip: string | null, retryable = false): KctlError {
    this.deps.metrics.countEnrollment(code);
    this.deps.log.warn({ code, ip }, 'enrollment refused');
    this.deps.store.audit({
      actor: `ip:${ip ?? 'unknown'}`,
      action: 'host.enroll.refused',
      target: null,
      details: { code },
    });
    return new KctlError(code, message, { retryable });
  }
}
