import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../controller/close-codes.js';
import {
  connectFakeAgent,
  enrollFakeAgent,
  startInProcessController,
  type InProcessController,
} from './fake-agent.js';

/**
 * Issue 12, finding 11 (part): after the controller was stopped (SIGSTOP/SIGCONT, a long pause),
 * Node runs the timers that fell due before it reads the sockets, so a result that arrived in time
 * was reported as a timeout and then logged as "result for unknown command", and queued heartbeats
 * lost to the heartbeat check. The stop is reproduced exactly: the process blocks in a check-phase
 * callback while the result and a heartbeat reach its socket, so on waking the next loop iteration
 * runs timers before it polls, as it does after SIGCONT when the stop landed mid-iteration.
 */
describe('a controller that was paused', () => {
  let c: InProcessController;
  const HEARTBEAT_MS = 300;

  beforeAll(async () => {
    c = await startInProcessController({ heartbeatIntervalMs: HEARTBEAT_MS });
  }, 30_000);
  afterAll(async () => {
    await c.close();
  });

  const pause = (ms: number): void => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // the whole process is stopped: no timer, no socket read
    }
  };

  it('takes a result that arrived during the pause, past the deadline, and keeps the connection', async () => {
    const cred = await enrollFakeAgent(c, 'late-1');
    const agent = await connectFakeAgent(c, cred);
    let seq = 0;
    const beat = (): void =>
      agent.ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, sentAt: Date.now() }));
    const beating = setInterval(beat, HEARTBEAT_MS / 3);

    const answer = c.controller.registry.sendCommand(cred.hostId, 'ping', {}, { timeoutMs: 1000 });
    const command = await agent.next('command');
    clearInterval(beating);
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        // written to the controller's socket now, read by it only after the pause
        agent.ws.send(
          JSON.stringify({
            type: 'result',
            id: command.id,
            replayed: false,
            outcome: { ok: true, value: { pong: true, ranAt: Date.now(), runId: 'late' } },
          }),
        );
        beat();
        // past the command's deadline and past three heartbeat intervals
        pause(1500);
        resolve();
      }),
    );

    const result = await answer;
    expect(result.outcome).toMatchObject({ ok: true, value: { runId: 'late' } });
    const beating2 = setInterval(beat, HEARTBEAT_MS / 3);
    await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
    clearInterval(beating2);
    expect(agent.isOpen()).toBe(true);
    expect(c.logText()).not.toContain('result for unknown command');
    expect(c.logText()).not.toContain('agent heartbeat timeout');
    agent.ws.close();
    const closed = await agent.closed;
    expect(closed.code).not.toBe(CloseCode.heartbeatTimeout);
  });

  it('does not time out an agent whose heartbeats arrived during the pause', async () => {
    const cred = await enrollFakeAgent(c, 'late-2');
    const agent = await connectFakeAgent(c, cred);
    const beat = (): void => agent.ws.send(JSON.stringify({ type: 'heartbeat', seq: 1, sentAt: Date.now() }));
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        beat();
        pause(4 * HEARTBEAT_MS);
        resolve();
      }),
    );
    const beating = setInterval(beat, HEARTBEAT_MS / 3);
    await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
    clearInterval(beating);
    expect(agent.isOpen()).toBe(true);
    agent.ws.close();
    expect((await agent.closed).code).not.toBe(CloseCode.heartbeatTimeout);
  });
});
