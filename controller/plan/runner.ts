import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';
import { Ops, type OpName, type OpResult } from '../../proto/ops.js';
import type { AgentRegistry } from '../registry.js';
import type { Task } from '../orchestrator/plan.js';
import type { TaskContext, TaskRunner } from '../orchestrator/engine.js';
import { generateToken } from '../tokens.js';
import type { PlannedHost } from './cluster-plan.js';

export interface JoinMaterial {
  token: string;
  certificateKey: string;
  caCertHash: string;
  /** when the control-plane certificates were uploaded; kubeadm deletes them after 2 h */
  certsUploadedAt: number;
}

/** Renders the kubeadm and kube-vip files a task needs; secrets come in as arguments and go nowhere else. */
export interface ConfigRenderers {
  init(host: PlannedHost, secrets: { token: string; certificateKey: string }): string;
  join(host: PlannedHost, material: JoinMaterial): string;
  kubeVip(host: PlannedHost): { path: string; content: string } | undefined;
}

/** Re-upload the certificates when less than this is left of kubeadm's 2-hour window. */
export const CERTS_REFRESH_AFTER_MS = 90 * 60_000;
const TOKEN_TTL = '30m';

/**
 * Maps each task kind to typed agent ops. Join secrets are minted just in time, held in memory for
 * this apply only, and never returned as task output (the apply journal holds no secret).
 */
export class ClusterTaskRunner implements TaskRunner {
  private material: JoinMaterial | undefined;

  constructor(
    private readonly deps: {
      registry: AgentRegistry;
      hosts: ReadonlyMap<string, PlannedHost & { hostId: string }>;
      renderers: ConfigRenderers;
      log: Logger;
      commandTimeoutMs?: number;
      now?: () => number;
    },
  ) {}

  /** Drops the join secrets (end of apply). */
  forgetSecrets(): void {
    this.material = undefined;
  }

  private host(name: string): PlannedHost & { hostId: string } {
    const h = this.deps.hosts.get(name);
    if (!h) throw new KctlError('unknown_host', `Host "${name}" is not part of this plan`);
    return h;
  }

  private first(): PlannedHost & { hostId: string } {
    const f = [...this.deps.hosts.values()].find((h) => h.first);
    if (!f) throw new KctlError('invalid_spec', 'The plan has no first control plane');
    return f;
  }

  private async op<N extends OpName>(
    hostName: string,
    op: N,
    args: Record<string, unknown>,
    ctx?: TaskContext,
    timeoutMs?: number,
  ): Promise<OpResult<N>> {
    const r = await this.deps.registry.sendCommand(this.host(hostName).hostId, op, args, {
      timeoutMs: timeoutMs ?? this.deps.commandTimeoutMs ?? 20 * 60_000,
      ...(ctx ? { onProgress: (p) => ctx.progress(p.message) } : {}),
    });
    if (!r.outcome.ok) throw KctlError.fromWire(r.outcome.error);
    return Ops[op].result.parse(r.outcome.value) as OpResult<N>;
  }

  async run(task: Task, ctx: TaskContext): Promise<unknown> {
    switch (task.kind) {
      case 'preflight':
        return this.preflight(task, ctx);
      case 'prepare':
        return this.prepare(task, ctx);
      case 'init':
        return this.init(task, ctx);
      case 'join-material':
        return this.joinMaterial(task);
      case 'join-control-plane':
      case 'join-worker':
        return this.join(task, ctx);
      case 'cni':
        return this.cni(task, ctx);
      case 'verify':
        return this.verify(task);
    }
  }

  private async preflight(task: Task, ctx: TaskContext): Promise<unknown> {
    const state = await this.op(task.host, 'kubeadm.state', {});
    if (state.initialized || state.joined) return { skipped: 'already part of the cluster' };
    const r = await this.op(task.host, 'preflight.run', { spec: task.input.spec }, ctx, 120_000);
    const failed = r.results.filter((c) => c.status === 'fail');
    if (failed.length > 0) {
      throw new KctlError(
        'check_failed',
        `preflight failed: ${failed.map((c) => `${c.id} (${c.observed}; ${c.remedy})`).join('; ')}`,
        {
          details: { failed: failed.map((c) => c.id) },
        },
      );
    }
    return {
      checks: r.results.length,
      warnings: r.results.filter((c) => c.status === 'warn').map((c) => c.id),
    };
  }

  private async prepare(task: Task, ctx: TaskContext): Promise<unknown> {
    const r = await this.op(task.host, 'host.apply', { spec: task.input.hostSpec }, ctx);
    const failed = r.reports.filter((s) => s.status === 'failed');
    if (failed.length > 0) {
      const first = failed[0]?.error;
      throw new KctlError(
        'step_failed',
        failed.map((s) => `${s.title}: ${s.error?.message ?? 'failed'}`).join('; '),
        {
          retryable: failed.every((s) => s.error?.retryable === true),
          ...(first?.details ? { details: first.details } : {}),
        },
      );
    }
    return {
      changed: r.changed,
      applied: r.reports.filter((s) => s.status === 'applied').map((s) => s.stepId),
    };
  }

  private async init(task: Task, ctx: TaskContext): Promise<unknown> {
    const host = this.host(task.host);
    const state = await this.op(task.host, 'kubeadm.state', {});
    if (state.initialized) return { alreadyInitialized: true };
    const secrets = { token: generateToken().token, certificateKey: randomBytes(32).toString('hex') };
    const vip = this.deps.renderers.kubeVip(host);
    const r = await this.op(
      task.host,
      'kubeadm.init',
      { config: this.deps.renderers.init(host, secrets), manifests: vip ? [vip] : [] },
      ctx,
    );
    // init uploaded the certificates with this key and registered this token: reuse them for joins
    this.material = { ...secrets, caCertHash: r.caCertHash, certsUploadedAt: this.now() };
    return { alreadyInitialized: r.alreadyInitialized, caCertHash: r.caCertHash };
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Fresh token and (re-)uploaded certificates, unless the ones in memory are still good. */
  private async ensureMaterial(force = false): Promise<JoinMaterial> {
    const m = this.material;
    if (!force && m && this.now() - m.certsUploadedAt < CERTS_REFRESH_AFTER_MS) return m;
    const token = generateToken().token;
    const certificateKey = randomBytes(32).toString('hex');
    const r = await this.op(this.first().name, 'kubeadm.joinMaterial', {
      token,
      tokenTtl: TOKEN_TTL,
      certificateKey,
    });
    this.material = {
      token,
      certificateKey,
      caCertHash: r.caCertHash,
      certsUploadedAt: r.certsUploadedAt ?? this.now(),
    };
    this.deps.log.info({ caCertHash: r.caCertHash }, 'join material minted');
    return this.material;
  }

  private async joinMaterial(task: Task): Promise<unknown> {
    const joiners = (task.input.joiners as string[] | undefined) ?? [];
    const states = await Promise.all(joiners.map((h) => this.op(h, 'kubeadm.state', {})));
    if (states.every((s) => s.joined || s.initialized)) return { needed: false };
    const m = await this.ensureMaterial();
    return { needed: true, caCertHash: m.caCertHash };
  }

  private async join(task: Task, ctx: TaskContext): Promise<unknown> {
    const host = this.host(task.host);
    const state = await this.op(task.host, 'kubeadm.state', {});
    if (state.joined || state.initialized) return { alreadyJoined: true };
    const controlPlane = task.kind === 'join-control-plane';
    // control planes need the uploaded certificates, which kubeadm deletes after 2 h: refresh before each
    const material = await this.ensureMaterial(false);
    const vip = controlPlane ? this.deps.renderers.kubeVip(host) : undefined;
    const r = await this.op(
      task.host,
      'kubeadm.join',
      { config: this.deps.renderers.join(host, material), controlPlane, manifests: vip ? [vip] : [] },
      ctx,
    );
    return { alreadyJoined: r.alreadyJoined };
  }

  private async cni(task: Task, ctx: TaskContext): Promise<unknown> {
    await this.op(
      task.host,
      'kubectl.apply',
      { name: `cni-${String(task.input.plugin)}`, manifest: task.input.manifest },
      ctx,
      300_000,
    );
    return { applied: true };
  }

  private async verify(task: Task): Promise<unknown> {
    const want = (task.input.nodes as string[] | undefined) ?? [];
    const { nodes } = await this.op(task.host, 'kubectl.nodes', {}, undefined, 60_000);
    const missing = want.filter((n) => !nodes.some((x) => x.name === n));
    const notReady = nodes.filter((n) => want.includes(n.name) && !n.ready).map((n) => n.name);
    if (missing.length > 0 || notReady.length > 0) {
      throw new KctlError(
        'step_failed',
        `nodes not Ready: ${[...missing.map((m) => `${m} (absent)`), ...notReady].join(', ')}`,
        { retryable: true },
      );
    }
    return { ready: nodes.length };
  }
}
