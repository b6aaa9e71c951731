import type { Logger } from 'pino';
import { KctlError, toWireError } from '../proto/errors.js';
import { agentConfigPins, agentControllerUrls, type AgentConfig } from './config.js';
import { StateDir } from './host/state-dir.js';
import { LocalHost } from './host/local-host.js';
import { MutatingRunLock } from './mutating-run-lock.js';
import { gatherFacts } from './facts.js';
import { FactsRefresher } from './facts-refresh.js';
import { enrollWithFailover, loadIdentity, type AgentIdentity } from './enroll.js';
import { CommandJournal } from './journal.js';
import { CommandExecutor } from './executor.js';
import { AgentConnection } from './connection.js';
import { agentOps } from './ops/index.js';
import { ControllerClock, systemClocks, type LocalClocks } from './controller-clock.js';
import { rotateIfDue } from './rotate.js';
import { controllerBundleSource } from './steps/bundle-fetch.js';

const JOURNAL_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** how often a running agent looks whether its certificate is due for rotation */
const ROTATION_CHECK_MS = 6 * 3600_000;
const ENROLL_RETRY_MS = { initialDelayMs: 1000, maxDelayMs: 60_000 };
/** in the state dir: the URL of the replica the last session was welcomed by */
const LAST_CONTROLLER_FILE = 'last-controller';

/** Composition root of the agent: reads its config, enrolls once, then serves the controller. */
export async function runAgent(
  config: AgentConfig,
  log: Logger,
  /** this host's clocks; tests inject a skewed wall clock */
  clocks: LocalClocks = systemClocks,
): Promise<{ stop(): Promise<void> }> {
  if (config.unsafeSkipCaVerification) {
    log.error(
      'unsafeSkipCaVerification is set: the controller CA is NOT pinned (S2); do not use this in production',
    );
  }
  const state = new StateDir(config.stateDir);
  await state.init();
  const host = new LocalHost({
    root: config.hostRoot,
    logger: log,
    ...(config.programPath ? { programPath: config.programPath } : {}),
  });
  // temp files of writes a crash interrupted (S17): the target kept its old content, these are litter
  const stale = await host.removeStaleTempFiles();
  if (stale.length > 0) log.info({ removed: stale.length }, 'stale temp files removed');
  const journal = new CommandJournal(state);
  const pruned = await journal.prune(JOURNAL_MAX_AGE_MS, Date.now());
  if (pruned > 0) log.info({ pruned }, 'journal pruned');

  const controllers = agentControllerUrls(config);
  // the replica this agent was last connected to: a restart goes back there (a first start picks
  // a random one, so a fleet spreads over the replicas)
  const remembered = await readLastController(state, controllers);
  let firstDial = remembered;
  let identity: AgentIdentity | undefined = await loadIdentity(state);
  if (!identity) {
    if (!config.token) {
      throw new KctlError(
        'invalid_config',
        'token: this agent has no identity yet and agent.yaml has no bootstrap token',
      );
    }
    // the replica that enrolled us answered just now: connect there first
    ({ identity, controller: firstDial } = await enrollWithFailover({
      controllers,
      pins: agentConfigPins(config),
      skipCaVerification: config.unsafeSkipCaVerification,
      token: config.token,
      facts: () => gatherFacts(host),
      labels: config.labels,
      state,
      log,
      net: host.net,
      retry: ENROLL_RETRY_MS,
    }));
  }
  try {
    identity = await rotateIfDue({
      controller: firstDial ?? controllers[0]!,
      identity,
      state,
      log,
      net: host.net,
    });
  } catch (err) {
    // the current certificate still works; try again at the next start or check
    log.warn(
      { code: toWireError(err).code, reason: toWireError(err).message },
      'certificate rotation failed',
    );
  }
  const id = identity;
  const hostLog = log.child({ hostId: id.hostId, host: id.hostName });

  // commands are judged fresh on the controller's clock as measured over the channel, not on ours
  const controllerClock = new ControllerClock(clocks);
  let rememberedController = remembered;
  const connection = new AgentConnection({
    controllers,
    startAt: firstDial,
    onConnected: (url) => {
      if (url === rememberedController) return;
      rememberedController = url;
      state
        .write(LAST_CONTROLLER_FILE, `${url}\n`)
        .catch((err: unknown) => hostLog.warn({ err: (err as Error).message }, 'cannot remember controller'));
    },
    identity: id,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    reconnect: config.reconnect,
    facts: () => gatherFacts(host),
    onHello: (facts) => refresher.sentInHello(facts),
    log: hostLog,
    controllerClock,
    clocks,
  });
  // facts change after enrolment (a kubelet installed, a service stopped): re-read, send the diff
  const refresher = new FactsRefresher({
    gather: () => gatherFacts(host),
    send: (frame) => connection.send(frame),
    online: () => connection.state === 'online',
    intervalMs: config.factsRefreshMs,
    log: hostLog,
  });
  let current = id;
  const clockOffset = (): { offsetMs: number; uncertaintyMs: number } | undefined => {
    const offsetMs = controllerClock.offsetMs();
    return offsetMs === undefined ? undefined : { offsetMs, uncertaintyMs: controllerClock.uncertaintyMs() };
  };
  const executor = new CommandExecutor({
    ops: agentOps({ clockOffset }),
    clocks,
    controllerClock,
    now: () => clocks.wallNow(),
    journal,
    host,
    log: hostLog,
    hostId: () => id.hostId,
    send: (frame) => connection.send(frame),
    runLock: new MutatingRunLock({ state, log: hostLog }),
    // the bundle comes over the same pinned mTLS as everything else, with the current certificate
    bundle: controllerBundleSource({
      controller: () => connection.controllerUrl(),
      credentials: () => current,
      net: host.net,
    }),
  });
  connection.start(executor);
  refresher.start();
  const rotation = setInterval(() => {
    rotateIfDue({
      controller: connection.controllerUrl(),
      identity: current,
      state,
      log: hostLog,
      net: host.net,
    })
      .then((next) => {
        if (next !== current) {
          current = next;
          connection.setIdentity(next);
        }
      })
      .catch((err: unknown) =>
        hostLog.warn({ reason: toWireError(err).message }, 'certificate rotation failed'),
      );
  }, ROTATION_CHECK_MS);
  rotation.unref();
  return {
    async stop() {
      clearInterval(rotation);
      refresher.stop();
      await connection.stop();
    },
  };
}

/** The remembered replica, if it is still one of the configured URLs. */
async function readLastController(
  state: StateDir,
  controllers: readonly string[],
): Promise<string | undefined> {
  const text = (await state.read(LAST_CONTROLLER_FILE))?.trim();
  return text !== undefined && controllers.includes(text) ? text : undefined;
}
