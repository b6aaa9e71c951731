import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentOp } from './registry.js';
import { gatherFacts } from '../facts.js';

export const pingOp: AgentOp<'ping'> = {
  name: 'ping',
  async run(args, ctx) {
    if (args.delayMs) await sleep(args.delayMs, undefined, { signal: ctx.signal });
    return { pong: true, ranAt: Date.now(), runId: randomUUID() };
  },
};

export const factsOp: AgentOp<'facts.get'> = {
  name: 'facts.get',
  run: (_args, ctx) => gatherFacts(ctx.host),
};
