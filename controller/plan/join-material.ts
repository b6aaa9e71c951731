import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { generateToken } from '../tokens.js';
import { opTimeoutMs } from '../host-client.js';

export interface JoinMaterial {
  token: string;
  /** when kubeadm deletes the bootstrap token */
  tokenExpiresAt: number;
  certificateKey: string;
  caCertHash: string;
  /** when the control-plane certificates were uploaded; kubeadm deletes them 2 h later */
  certsUploadedAt: number;
}

/** Token lifetime asked of kubeadm for join material minted by kctl. */
export const JOIN_TOKEN_TTL_MS = 60 * 60_000;
/** kubeadm deletes the uploaded certificates (the kubeadm-certs Secret) after 2 hours. */
export const UPLOADED_CERTS_TTL_MS = 2 * 60 * 60_000;
/** A join must be able to finish before its material expires: the longest a join op may take, plus slack. */
export const JOIN_BUDGET_MS = opTimeoutMs('kubeadm.join') + 5 * 60_000;

export function tokenTtlArg(ms: number): string {
  return `${Math.floor(ms / 60_000)}m`;
}

/** Whether material minted earlier still outlives a join started now. */
export function materialFresh(m: JoinMaterial, now: number, budgetMs = JOIN_BUDGET_MS): boolean {
  return m.tokenExpiresAt - now >= budgetMs && m.certsUploadedAt + UPLOADED_CERTS_TTL_MS - now >= budgetMs;
}

export interface JoinMaterialSource {
  /** Material that outlives a join started now: the one in memory, or freshly minted. */
  get(options?: { fresh?: boolean }): Promise<JoinMaterial>;
  /** Material kubeadm init registered (its token and certificate key), valid until `tokenExpiresAt`. */
  remember(m: JoinMaterial): void;
}

/**
 * Join secrets for one apply, minted by the controller just in time and held in memory only: never
 * journaled, never logged, never returned as task output. A retried join asks for `fresh` material,
 * so a join that failed on a token or certificate that kubeadm no longer had gets new ones.
 */
export class JoinMaterialCache implements JoinMaterialSource {
  private material: JoinMaterial | undefined;

  constructor(
    private readonly mint: (secrets: {
      token: string;
      tokenTtl: string;
      certificateKey: string;
    }) => Promise<{ caCertHash: string }>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  remember(m: JoinMaterial): void {
    this.material = m;
  }

  async get(options: { fresh?: boolean } = {}): Promise<JoinMaterial> {
    const m = this.material;
    if (!options.fresh && m && materialFresh(m, this.now())) return m;
    const token = generateToken().token;
    const certificateKey = randomBytes(32).toString('hex');
    const mintedAt = this.now();
    const r = await this.mint({ token, tokenTtl: tokenTtlArg(JOIN_TOKEN_TTL_MS), certificateKey });
    this.material = {
      token,
      tokenExpiresAt: mintedAt + JOIN_TOKEN_TTL_MS,
      certificateKey,
      caCertHash: r.caCertHash,
      // the controller's clock, before the call: conservative, and immune to the host's clock skew
      certsUploadedAt: mintedAt,
    };
    this.log.info({ caCertHash: r.caCertHash }, 'join material minted');
    return this.material;
  }

  forget(): void {
    this.material = undefined;
  }
}
