import type { Server } from 'node:https';
import type { Logger } from 'pino';
import { createLogger } from '../proto/logging.js';
import type { AsyncStore } from './store/store.js';
import { openControllerStore } from './store/open-store.js';
import type { StoreLocation } from './store/store-location.js';
import { HostStateCache } from './store/host-state-cache.js';
import { ControllerMetrics } from './metrics.js';
import { AgentRegistry } from './registry.js';
import { AgentEndpoint, CloseCode } from './agent-endpoint.js';
import { LastSeenWriter } from './last-seen.js';
import { FactsWriter } from './store/facts-writer.js';
import { readsAfterFlush } from './store/reads-after-flush.js';
import { Enrollment } from './enrollment.js';
import { createControllerServer } from './server.js';
import { loadDataDir, splitHostPort } from './data-dir.js';
import { allRoutes } from './routes.js';
import { resolveBundleDir } from './bundle/serve-dir.js';
import { defaultWebListen, startWebServer, type RunningWebServer } from './web/server.js';
import { HealthSchedule } from './health/health-schedule.js';

export interface RunningController {
  url: string;
  port: number;
  store: AsyncStore;
  registry: AgentRegistry;
  metrics: ControllerMetrics;
  server: Server;
  /** the fleet page, on its own port (S13); undefined when turned off or its port was taken */
  web: RunningWebServer | undefined;
  close(): Promise<void>;
}

/** Composition root of the controller: the only place its parts are wired together. */
export async function startController(options: {
  dataDir: string;
  listen?: string;
  /** the fleet page's HOST:PORT; the admin port + 1 by default; false: no fleet page */
  webListen?: string | false;
  /** the offline bundle to serve; <data-dir>/bundle when absent and that directory exists */
  bundleDir?: string;
  /** where the state lives; controller.json's `store`, else SQLite in the data dir */
  store?: StoreLocation;
  log?: Logger;
}): Promise<RunningController> {
  const files = await loadDataDir(options.dataDir);
  const bundleDir = await resolveBundleDir(options.bundleDir, files.dir);
  const log = options.log ?? createLogger({ name: 'kctl-controller' });
  // SQLite is presented as an AsyncStore too: one code path for both databases
  const opened = await openControllerStore({
    location: options.store ?? files.settings.store,
    dbFile: files.dbFile,
    baseDir: files.dir,
    log: log.child({ component: 'store' }),
  });
  // hosts' standing for the per-connection and per-command checks, without a database round trip
  const hostStates = await HostStateCache.load(opened.store);
  const written = hostStates.track(opened.store);
  // hellos and facts frames are written in batches; readers of host rows see them (flush first)
  const facts = new FactsWriter({ store: written, log, flushEveryMs: 1000 });
  const store = readsAfterFlush(written, () => facts.flush());
  const metrics = new ControllerMetrics();
  const heartbeatIntervalMs = files.settings.heartbeatIntervalMs;
  const registry = new AgentRegistry({ store, hostStates, log, metrics, heartbeatIntervalMs });
  // replicas on PostgreSQL: commands for hosts on another replica, and host changes made there
  const relay = await opened.startRelay?.({
    holds: (hostId) => registry.isOnline(hostId),
    run: (hostId, op, args, o) =>
      registry.sendCommand(hostId, op, args, {
        timeoutMs: o.timeoutMs,
        commandId: o.commandId,
        ...(o.planId !== undefined ? { planId: o.planId } : {}),
        ...(o.planHash !== undefined ? { planHash: o.planHash } : {}),
        ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
      }),
    hostChanged: (hostId) => {
      hostStates
        .refresh(hostId)
        .then(() => registry.recheck(hostId))
        .catch((err: unknown) =>
          log.warn({ err, hostId }, 'cannot refresh a host changed on another replica'),
        );
    },
    seenLately: async (hostId) => {
      const h = await store.getHost(hostId);
      return h?.lastSeenAt != null && Date.now() - h.lastSeenAt < 3 * heartbeatIntervalMs;
    },
  });
  if (relay) {
    registry.useRelay(relay);
    hostStates.onWrite((hostId) => {
      relay
        .hostChanged(hostId)
        .catch((err: unknown) => log.warn({ err, hostId }, 'cannot tell the replicas'));
    });
  }
  const lastSeen = new LastSeenWriter({ store, log, flushEveryMs: Math.min(1000, heartbeatIntervalMs) });
  const endpoint = new AgentEndpoint({ store, registry, metrics, log, heartbeatIntervalMs, lastSeen, facts });
  const enrollment = new Enrollment({
    store,
    ca: files.ca,
    log,
    metrics,
    certValidityDays: files.settings.agentCertValidityDays,
  });
  const routes = allRoutes({
    store,
    registry,
    enrollment,
    caPem: files.ca.certPem,
    log,
    metrics,
    applyStore: store.applies,
    hostStates,
    artifactsDir: process.env.KCTL_ARTIFACTS_DIR ?? files.artifactsDir,
    dataDir: files.dir,
    bundleDir,
    controllerUrl: files.settings.advertiseUrl,
    ca: files.ca,
    certValidityDays: files.settings.agentCertValidityDays,
    clusterLocks: opened.clusterLocks,
  });
  const { server, wss } = createControllerServer({
    tls: { certPem: files.server.certPem, keyPem: files.server.keyPem, caPem: files.ca.certPem },
    routes,
    hostStates,
    endpoint,
    metrics,
    log,
    admission: files.settings.admission,
  });
  const { host, port } = splitHostPort(options.listen ?? files.settings.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  log.info(
    { listen: `${host}:${boundPort}`, dataDir: files.dir, bundleDir, store: opened.describe },
    'controller listening',
  );
  const health = new HealthSchedule({
    store,
    registry,
    controllerUrl: files.settings.advertiseUrl,
    log: log.child({ component: 'health' }),
    intervalMs: files.settings.healthIntervalMs,
  });
  health.start();
  const web =
    options.webListen === false
      ? undefined
      : await startWebServer({
          store,
          registry,
          log,
          tls: { certPem: files.server.certPem, keyPem: files.server.keyPem, caPem: files.ca.certPem },
          listen: options.webListen ?? defaultWebListen(options.listen ?? files.settings.listen, boundPort),
          sans: files.settings.sans,
          heartbeatIntervalMs,
        }).catch((err: unknown) => {
          // agents and kctl matter more than the page: a taken web port is an error, not a stop
          log.error({ err }, 'fleet page not started');
          return undefined;
        });

  return {
    url: files.settings.advertiseUrl,
    port: boundPort,
    store,
    registry,
    metrics,
    server,
    web,
    async close() {
      health.stop();
      await web?.close();
      registry.closeAll(CloseCode.shutdown, 'controller stopping');
      await relay?.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await lastSeen.flush();
      await facts.flush();
      await store.close();
    },
  };
}
