import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { KctlError, describeZodError } from '../proto/errors.js';

export const CaPin = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lowercase hex>');
export const BootstrapToken = z
  .string()
  .regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'must match [a-z0-9]{6}.[a-z0-9]{16}');

const ControllerUrl = z.url({
  protocol: /^https$/,
  error: (issue) => `must be an https:// URL, not ${JSON.stringify(issue.input)}`,
});
/** replicas of one controller: more would only lengthen a failover round */
export const MAX_CONTROLLER_URLS = 16;

/** /etc/kctl/agent.yaml */
export const AgentConfig = z
  .strictObject({
    /** https URL of the controller, e.g. https://198.18.0.1:7443 (one controller; installs before issue 16) */
    controller: ControllerUrl.optional(),
    /**
     * https URLs of the controller's replicas (one fleet, one CA: every URL must present the pinned
     * CA); the agent starts at a random one and fails over to the next on a failed dial or lost session
     */
    controllers: z.array(ControllerUrl).min(1).max(MAX_CONTROLLER_URLS).optional(),
    /** one or more pins of the controller CA (several allow CA rotation, S2) */
    caPins: z.array(CaPin).min(1).max(8).optional(),
    caPin: CaPin.optional(),
    /** needed only until the agent has enrolled */
    token: BootstrapToken.optional(),
    stateDir: z.string().startsWith('/').default('/var/lib/kctl-agent'),
    /** the root of the managed host; "/" in production, a temp dir in tests */
    hostRoot: z.string().startsWith('/').default('/'),
    /** directories searched for programs, in order; defaults to the system PATH of S15 */
    programPath: z.array(z.string().startsWith('/')).optional(),
    heartbeatIntervalMs: z.number().int().min(100).max(600_000).default(10_000),
    /** how often the agent re-reads its facts and sends what changed (±20 % jitter) */
    factsRefreshMs: z.number().int().min(100).max(3_600_000).default(60_000),
    reconnect: z
      .strictObject({
        initialDelayMs: z.number().int().min(10).default(500),
        maxDelayMs: z.number().int().min(100).default(30_000),
      })
      .default({ initialDelayMs: 500, maxDelayMs: 30_000 }),
    labels: z.record(z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/), z.string().max(63)).default({}),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    /** explicit opt-out of CA pinning; logged at error level on every start (S2) */
    unsafeSkipCaVerification: z.boolean().default(false),
  })
  .refine((c) => c.caPin !== undefined || c.caPins !== undefined || c.unsafeSkipCaVerification, {
    message: 'caPin (or caPins) is required: the agent refuses to contact a controller it cannot pin',
    path: ['caPin'],
  })
  .refine((c) => c.controller !== undefined || c.controllers !== undefined, {
    message: 'controllers (a list of https:// URLs) or controller (one URL) is required',
    path: ['controllers'],
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    (c.controllers ?? []).forEach((url, index) => {
      const key = controllerKey(url);
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `${url} is the same controller as controllers.${first}`,
          path: ['controllers', index],
        });
      }
      seen.set(key, index);
    });
  });
export type AgentConfig = z.infer<typeof AgentConfig>;

/** The same controller whatever the trailing slash or letter case of the host. */
function controllerKey(url: string): string {
  // refinements also run over entries that failed the URL check: those keep their own error
  return URL.canParse(url) ? new URL(url).href.replace(/\/+$/, '') : url;
}

/**
 * The controller URLs to dial, in config order: `controller` (the single field older installs
 * have) first, then `controllers`; a URL given in both is kept once. Trailing slashes are dropped.
 */
export function agentControllerUrls(config: Pick<AgentConfig, 'controller' | 'controllers'>): string[] {
  const urls = new Map<string, string>();
  for (const url of [...(config.controller ? [config.controller] : []), ...(config.controllers ?? [])]) {
    const key = controllerKey(url);
    if (!urls.has(key)) urls.set(key, url.replace(/\/+$/, ''));
  }
  return [...urls.values()];
}

export function agentConfigPins(config: AgentConfig): string[] {
  return [...(config.caPin ? [config.caPin] : []), ...(config.caPins ?? [])];
}

/** Parses agent.yaml text; every error names the field and the file. */
export function parseAgentConfig(text: string, source: string): AgentConfig {
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 0 });
  } catch (err) {
    throw new KctlError('invalid_config', `${source}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = AgentConfig.safeParse(data ?? {});
  if (!parsed.success) {
    throw new KctlError('invalid_config', `${source}: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}
