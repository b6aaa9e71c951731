/**
 * Pure bookkeeping for the reconnect storm benchmark (bench/reconnect-storm.ts): what each agent did
 * and when, the backoff check, and the per-second series.
 */

export interface AgentTrace {
  /** wall times (ms) at which the agent dialled the controller */
  dials: number[];
  /** for each disconnect: when it was noticed, the delay the agent's backoff chose, and how many dials came before it */
  waits: Array<{ at: number; delayMs: number; dialsBefore: number }>;
  /** first time the agent was back online after the kill */
  backAt?: number;
}

export interface BackoffCheck {
  /** retries checked: a dial that followed a disconnect */
  retries: number;
  /** retries that came sooner than the delay the backoff chose (allowing `slackMs` of timer jitter) */
  early: number;
  /** the shortest (dial - chosen delay - disconnect) seen, ms; negative means early */
  minMarginMs: number;
  samples: string[];
}

/**
 * Checks that every retry came no sooner than the delay the agent's backoff chose for it (its floor):
 * each disconnect is matched with the dial that followed it (by order: a refused dial and its
 * disconnect can fall in the same millisecond).
 */
export function checkBackoff(traces: readonly AgentTrace[], slackMs = 2): BackoffCheck {
  const out: BackoffCheck = { retries: 0, early: 0, minMarginMs: Infinity, samples: [] };
  traces.forEach((t, agent) => {
    for (const wait of t.waits) {
      const next = t.dials[wait.dialsBefore];
      if (next === undefined) continue;
      out.retries++;
      const margin = next - wait.at - wait.delayMs;
      out.minMarginMs = Math.min(out.minMarginMs, margin);
      if (margin < -slackMs) {
        out.early++;
        if (out.samples.length < 5)
          out.samples.push(`agent ${agent}: waited ${next - wait.at} ms, backoff chose ${wait.delayMs} ms`);
      }
    }
  });
  return out;
}

/** Counts of events per whole second since `from`. */
export function perSecond(times: readonly number[], from: number, seconds: number): number[] {
  const counts = new Array<number>(Math.max(0, seconds)).fill(0);
  for (const t of times) {
    const s = Math.floor((t - from) / 1000);
    if (s >= 0 && s < counts.length) counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}
