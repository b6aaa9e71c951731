import { z } from 'zod';
import { Outcome } from '../proto/wire.js';
import type { StateDir } from './host/state-dir.js';

export const JournalEntry = z.strictObject({
  id: z.string(),
  op: z.string(),
  status: z.enum(['running', 'done']),
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  outcome: Outcome.optional(),
});
export type JournalEntry = z.infer<typeof JournalEntry>;

/**
 * Command id -> result, on disk (one atomically written file per command), so that a command
 * re-sent after a reconnect or an agent restart is answered from here instead of running twice.
 * A 'running' entry found after a restart means the agent died mid-command: the op runs again,
 * which is safe because every op converges by diffing the host first.
 */
export class CommandJournal {
  constructor(private readonly state: StateDir) {}

  async get(id: string): Promise<JournalEntry | undefined> {
    const text = await this.state.read(this.file(id));
    if (text === undefined) return undefined;
    try {
      const parsed = JournalEntry.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      // a journal file is written atomically, so this is outside tampering; treat as absent
      return undefined;
    }
  }

  async begin(id: string, op: string, now: number): Promise<void> {
    await this.write({ id, op, status: 'running', startedAt: now });
  }

  async finish(entry: JournalEntry, outcome: Outcome, now: number): Promise<void> {
    await this.write({ ...entry, status: 'done', finishedAt: now, outcome });
  }

  /** Drops entries older than maxAgeMs; commands expire long before that, so no replay is lost. */
  async prune(maxAgeMs: number, now: number): Promise<number> {
    let removed = 0;
    for (const name of await this.state.list('journal')) {
      if (!name.endsWith('.json')) continue;
      const entry = await this.get(name.slice(0, -'.json'.length));
      if (!entry || now - entry.startedAt > maxAgeMs) {
        await this.state.remove(`journal/${name}`);
        removed++;
      }
    }
    return removed;
  }

  private async write(entry: JournalEntry): Promise<void> {
    await this.state.write(this.file(entry.id), JSON.stringify(entry));
  }

  private file(id: string): string {
    return `journal/${id}.json`;
  }
}
