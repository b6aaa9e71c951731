import type { Logger } from 'pino';
import { KctlError } from '../proto/errors.js';
import {
  EnrollRequest,
  PreflightRequest,
  RenewRequest,
  RunOpRequest,
  TokenCreateRequest,
  type HostView,
  type RunOpResponse,
  type TokenView,
} from '../proto/admin-api.js';
import type { Route, Caller } from './http-router.js';
import type { AsyncStore, HostRecord } from './store/store.js';
import type { AgentRegistry } from './registry.js';
import type { Enrollment } from './enrollment.js';
import { CloseCode } from './agent-endpoint.js';
import { signAgentCsr, type CaKeyPair } from './pki.js';
import { renderPrometheus, type ControllerMetrics } from './metrics.js';
import { runFleetPreflight, preflightSpecsFromCluster } from './preflight-service.js';
import { generateToken, hashTokenSecret, MAX_TOKEN_TTL_MS } from './tokens.js';
import { queryInteger } from './request-target.js';
import { hostExtras } from './web/host-extras.js';

export interface RouteDeps {
  ca: CaKeyPair;
  certValidityDays: number;
  store: AsyncStore;
  registry: AgentRegistry;
  enrollment: Enrollment;
  caPem: string;
  log: Logger;
  metrics: ControllerMetrics;
}

function actorOf(caller: Caller): string {
  return caller.kind === 'admin'
    ? `admin:${caller.name}`
    : caller.kind === 'host'
      ? `host:${caller.hostId}`
      : 'anonymous';
}

export function hostView(h: HostRecord, online: boolean): HostView {
  return {
    id: h.id,
    name: h.name,
    state: h.state,
    online,
    lastSeenAt: h.lastSeenAt,
    ip: h.lastIp,
    os: h.facts?.os.prettyName ?? null,
    kernel: h.facts?.kernel ?? null,
    agentVersion: h.agentVersion,
    labels: h.labels,
    enrolledAt: h.enrolledAt,
    facts: h.facts,
  };
}

export async function hostByName(store: AsyncStore, name: string): Promise<HostRecord> {
  const host = await store.getHostByName(name);
  if (!host) throw new KctlError('unknown_host', `No enrolled host named "${name}"`);
  return host;
}

/** Every HTTP route of the controller, in one list, so a test can enumerate them (S14). */
export function controllerRoutes(deps: RouteDeps): Route[] {
  const { store, registry, enrollment, log } = deps;
  return [
    { method: 'GET', path: '/healthz', auth: 'public', handle: () => Promise.resolve({ ok: true }) },
    { method: 'GET', path: '/v1/ca', auth: 'public', handle: () => Promise.resolve({ caPem: deps.caPem }) },
    {
      method: 'POST',
      path: '/v1/enroll',
      auth: 'public', // authenticated by the bootstrap token inside the body
      handle: async (ctx) => enrollment.enroll(await ctx.body(EnrollRequest), ctx.caller.ip),
    },
    {
      method: 'POST',
      path: '/v1/agent/renew',
      auth: 'host', // the current certificate proves who asks; the new one carries the same host id
      handle: async (ctx) => {
        if (ctx.caller.kind !== 'host') throw new KctlError('forbidden', 'host credentials required');
        const body = await ctx.body(RenewRequest);
        const hostId = ctx.caller.hostId;
        const signed = await signAgentCsr(deps.ca, body.csrPem, {
          hostId,
          validityDays: deps.certValidityDays,
        });
        await store.setHostCertificate(hostId, signed.serial, signed.notAfter);
        await store.audit({
          actor: `host:${hostId}`,
          action: 'host.cert.rotate',
          target: hostId,
          details: { serial: signed.serial },
        });
        log.info({ hostId, notAfter: signed.notAfter }, 'host certificate rotated');
        // the session on the old certificate ends now (4011); the agent redials with the new one
        registry.recheck(hostId);
        return { certPem: signed.certPem };
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/hosts',
      auth: 'admin',
      handle: async () => {
        const extras = await hostExtras(store);
        return {
          hosts: (await store.listHosts()).map((h) => ({
            ...hostView(h, registry.isOnlineAnywhere(h)),
            ...extras(h),
          })),
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/hosts/:name/revoke',
      auth: 'admin',
      handle: async (ctx) => {
        const host = await hostByName(store, ctx.params.name ?? '');
        await store.revokeHost(host.id, Date.now());
        await store.audit({
          actor: actorOf(ctx.caller),
          action: 'host.revoke',
          target: host.name,
          details: { hostId: host.id },
        });
        registry.disconnect(host.id, CloseCode.revoked, 'host revoked');
        registry.failPending(host.id, new KctlError('host_revoked', `Host "${host.name}" was revoked`));
        log.warn({ hostId: host.id, host: host.name }, 'host revoked');
        return { ok: true };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/admin/hosts/:name',
      auth: 'admin',
      handle: async (ctx) => {
        const host = await hostByName(store, ctx.params.name ?? '');
        await store.revokeHost(host.id, Date.now());
        registry.disconnect(host.id, CloseCode.revoked, 'host deleted');
        await store.deleteHost(host.id);
        await store.audit({
          actor: actorOf(ctx.caller),
          action: 'host.delete',
          target: host.name,
          details: { hostId: host.id },
        });
        return { ok: true };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/tokens',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(TokenCreateRequest);
        if (body.ttlMs > MAX_TOKEN_TTL_MS) {
          throw new KctlError(
            'invalid_args',
            `ttlMs: ${body.ttlMs} exceeds the maximum of ${MAX_TOKEN_TTL_MS} (24h)`,
          );
        }
        const t = generateToken();
        const now = Date.now();
        await store.createToken({
          id: t.id,
          secretHash: hashTokenSecret(t.secret),
          createdAt: now,
          expiresAt: now + body.ttlMs,
          usesTotal: body.uses,
          usesLeft: body.uses,
          labels: body.labels,
          description: body.description,
        });
        await store.audit({
          actor: actorOf(ctx.caller),
          action: 'token.create',
          target: t.id,
          details: { ttlMs: body.ttlMs, uses: body.uses },
        });
        return { id: t.id, token: t.token, expiresAt: now + body.ttlMs, uses: body.uses };
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/tokens',
      auth: 'admin',
      handle: async () =>
        Promise.resolve({
          tokens: (await store.listTokens()).map((t): TokenView => ({
            id: t.id,
            createdAt: t.createdAt,
            expiresAt: t.expiresAt,
            usesTotal: t.usesTotal,
            usesLeft: t.usesLeft,
            labels: t.labels,
            description: t.description,
          })),
        }),
    },
    {
      method: 'DELETE',
      path: '/v1/admin/tokens/:id',
      auth: 'admin',
      handle: async (ctx) => {
        const id = ctx.params.id ?? '';
        if (!(await store.deleteToken(id))) throw new KctlError('not_found', `No token with id "${id}"`);
        await store.audit({ actor: actorOf(ctx.caller), action: 'token.delete', target: id, details: null });
        return { ok: true };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/ops',
      auth: 'admin',
      handle: async (ctx): Promise<RunOpResponse> => {
        const body = await ctx.body(RunOpRequest);
        const host = await hostByName(store, body.host);
        const result = await registry.sendCommand(host.id, body.op, body.args, { timeoutMs: body.timeoutMs });
        await store.audit({
          actor: actorOf(ctx.caller),
          action: `op.${body.op}`,
          target: host.name,
          details: { commandId: result.commandId, ok: result.outcome.ok },
        });
        return { host: host.name, ...result };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/preflight',
      auth: 'admin',
      handle: async (ctx) => {
        const body = await ctx.body(PreflightRequest);
        const specs = body.cluster ? await preflightSpecsFromCluster(store, body.cluster) : body.specs;
        const result = await runFleetPreflight({ store, registry }, { ...body, ...(specs ? { specs } : {}) });
        await store.audit({
          actor: actorOf(ctx.caller),
          action: 'preflight',
          target: null,
          details: { hosts: result.hosts.length },
        });
        return result;
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      auth: 'admin',
      handle: async (ctx) => {
        const hostsByState: Record<string, number> = { active: 0, revoked: 0 };
        for (const h of await store.listHosts()) hostsByState[h.state] = (hostsByState[h.state] ?? 0) + 1;
        const text = renderPrometheus(deps.metrics, { hostsByState, agentsOnline: registry.onlineCount() });
        ctx.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        ctx.res.end(text);
        return undefined;
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/audit',
      auth: 'admin',
      handle: async (ctx) =>
        Promise.resolve({
          entries: await store.listAudit(
            queryInteger(ctx.url, 'limit', { min: 1, max: 10_000, fallback: 100 }),
          ),
        }),
    },
  ];
}
