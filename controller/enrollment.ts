import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { KctlError } from '../proto/errors.js';
import type { EnrollRequest, EnrollResponse } from '../proto/admin-api.js';
import { PROTOCOL_VERSION } from '../proto/version.js';
import type { AsyncStore, EnrollmentRecord, HostRecord, TokenUse } from './store/store.js';
import type { ControllerMetrics } from './metrics.js';
import { parseTokenString, verifyTokenSecret } from './tokens.js';
import { csrKeySha256, signAgentCsr, type CaKeyPair } from './pki.js';

type TokenUseFailure = Extract<TokenUse, { ok: false }>['reason'];

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
      store: AsyncStore;
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
    const { store } = this.deps;
    const verify = (hash: string): boolean => verifyTokenSecret(token.secret, hash);
    // read-only: nothing is taken before the one transaction that also writes the host
    const checked = await store.checkToken(token.id, verify, now);
    if (!checked.ok && (checked.reason === 'unknown' || checked.reason === 'mismatch')) {
      throw this.tokenRefusal(checked.reason, token.id, ip);
    }
    const name = request.facts.hostname.toLowerCase();
    if (!HOST_NAME.test(name) || name.length > 253) {
      throw this.refuse('invalid_args', `Host name "${name}" is not a valid RFC 1123 name`, ip);
    }
    const existing = await store.getHostByName(name);
    if (existing) {
      // the reply to this very enrollment may have been lost (controller or agent killed in between)
      const again = await this.sameEnrollment(existing, token.id, request.csrPem);
      if (again) {
        this.deps.metrics.countEnrollment('ok');
        await store.audit({
          actor: `token:${token.id}`,
          action: 'host.enroll.repeated',
          target: name,
          details: { hostId: existing.id, ip, serial: again.certSerial },
        });
        this.deps.log.info({ hostId: existing.id, host: name, tokenId: token.id, ip }, 'enrollment repeated');
        return { hostId: existing.id, hostName: name, certPem: again.certPem, caPem: this.deps.ca.certPem };
      }
    }
    if (!checked.ok) throw this.tokenRefusal(checked.reason, token.id, ip);
    if (existing) throw this.nameTaken(name, ip);
    const hostId = randomUUID();
    let signed: Awaited<ReturnType<typeof signAgentCsr>>;
    let keySha256: string;
    try {
      keySha256 = await csrKeySha256(request.csrPem);
      signed = await signAgentCsr(this.deps.ca, request.csrPem, {
        hostId,
        validityDays: this.deps.certValidityDays,
      });
    } catch (err) {
      throw this.refuse('csr_invalid', `Certificate request refused: ${(err as Error).message}`, ip);
    }
    // token labels win over what the agent asks for: a host cannot promote itself
    const labels = { ...request.labels, ...checked.token.labels };
    // one transaction: a controller killed before it commits leaves the token unused and no host;
    // after it, the agent's retry with the same key is answered above with the same certificate
    const outcome = await store.transaction(async (tx): Promise<'ok' | 'name_taken' | TokenUseFailure> => {
      const use = await tx.useToken(token.id, verify, now);
      if (!use.ok) return use.reason;
      if (await tx.getHostByName(name)) return 'name_taken';
      await tx.createHost({
        id: hostId,
        name,
        labels,
        state: 'active',
        certSerial: signed.serial,
        certNotAfter: signed.notAfter,
        enrolledAt: now,
      });
      await tx.recordHostSeen(hostId, { at: now, ip, facts: request.facts });
      await tx.recordEnrollment({
        hostId,
        tokenId: token.id,
        keySha256,
        certSerial: signed.serial,
        certPem: signed.certPem,
        at: now,
      });
      await tx.audit({
        actor: `token:${token.id}`,
        action: 'host.enroll',
        target: name,
        details: { hostId, ip, serial: signed.serial },
      });
      return 'ok';
    });
    // another enrollment took the last use or the name while this one was signing
    if (outcome === 'name_taken') throw this.nameTaken(name, ip);
    if (outcome !== 'ok') throw this.tokenRefusal(outcome, token.id, ip);
    this.deps.metrics.countEnrollment('ok');
    this.deps.log.info({ hostId, host: name, tokenId: token.id, ip }, 'host enrolled');
    return { hostId, hostName: name, certPem: signed.certPem, caPem: this.deps.ca.certPem };
  }

  /**
   * The enrollment recorded for this host, when this request repeats it: same token, same key
   * (the CSR's signature proves possession), and the certificate is still the host's current one.
   */
  private async sameEnrollment(
    host: HostRecord,
    tokenId: string,
    csrPem: string,
  ): Promise<EnrollmentRecord | undefined> {
    const recorded = await this.deps.store.getEnrollment(host.id);
    if (!recorded || recorded.tokenId !== tokenId) return undefined;
    if (host.state !== 'active' || host.certSerial !== recorded.certSerial) return undefined;
    const keySha256 = await csrKeySha256(csrPem).catch(() => undefined);
    return keySha256 === recorded.keySha256 ? recorded : undefined;
  }

  private tokenRefusal(reason: TokenUseFailure, tokenId: string, ip: string | null): KctlError {
    switch (reason) {
      case 'unknown':
      case 'mismatch':
        return this.refuse(
          'token_invalid',
          `Bootstrap token "${tokenId}" is not known to this controller`,
          ip,
        );
      case 'expired':
        return this.refuse('token_expired', `Bootstrap token "${tokenId}" has expired`, ip);
      case 'exhausted':
        return this.refuse('token_exhausted', `Bootstrap token "${tokenId}" has no uses left`, ip);
    }
  }

  private nameTaken(name: string, ip: string | null): KctlError {
    return this.refuse(
      'name_taken',
      `A host named "${name}" is already enrolled; remove it first with "kctl hosts delete ${name}"`,
      ip,
    );
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
    // the refusal is thrown now; its audit row is written behind it (a failed write is logged)
    this.deps.store
      .audit({
        actor: `ip:${ip ?? 'unknown'}`,
        action: 'host.enroll.refused',
        target: null,
        details: { code },
      })
      .catch((err: unknown) => this.deps.log.error({ err, ip }, 'audit write failed'));
    return new KctlError(code, message, { retryable });
  }
}
