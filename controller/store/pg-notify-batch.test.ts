import { describe, expect, it } from 'vitest';
import { NotifyBatcher } from './pg-notify-batch.js';

/** A pool stand-in that records each statement's payloads; a statement takes `ms`. */
function recordingDb(options: { ms?: number; failFirst?: boolean } = {}) {
  const statements: string[][] = [];
  let failures = options.failFirst ? 1 : 0;
  return {
    statements,
    db: {
      query: async (_text: string, params: [string, string[]]) => {
        statements.push(params[1]);
        await new Promise((r) => setTimeout(r, options.ms ?? 5));
        if (failures-- > 0) throw new Error('connection lost');
        return { rows: [] };
      },
    } as unknown as ConstructorParameters<typeof NotifyBatcher>[0],
  };
}

describe('NotifyBatcher', () => {
  it('sends the notices raised in one turn as one statement, in order', async () => {
    const { db, statements } = recordingDb();
    const b = new NotifyBatcher(db, 'ch');
    await Promise.all(Array.from({ length: 300 }, (_, i) => b.notify(`n${i}`)));
    expect(statements).toHaveLength(1);
    expect(statements[0]).toEqual(Array.from({ length: 300 }, (_, i) => `n${i}`));
  });

  it('what is raised while a batch is on its way goes in the next one, and batches are bounded', async () => {
    const { db, statements } = recordingDb({ ms: 20 });
    const b = new NotifyBatcher(db, 'ch', 100);
    const first = Array.from({ length: 250 }, (_, i) => b.notify(`a${i}`));
    await new Promise((r) => setTimeout(r, 5));
    const later = [b.notify('late-1'), b.notify('late-2')];
    await Promise.all([...first, ...later]);
    expect(statements.map((s) => s.length)).toEqual([100, 100, 52]);
    expect(statements.flat()).toEqual([
      ...Array.from({ length: 250 }, (_, i) => `a${i}`),
      'late-1',
      'late-2',
    ]);
  });

  it('a failed statement rejects its own notices only; the next batch still goes', async () => {
    const { db, statements } = recordingDb({ ms: 10, failFirst: true });
    const b = new NotifyBatcher(db, 'ch');
    const failed = b.notify('x');
    await new Promise((r) => setTimeout(r, 2));
    const after = b.notify('y');
    await expect(failed).rejects.toThrow('connection lost');
    await expect(after).resolves.toBeUndefined();
    expect(statements).toEqual([['x'], ['y']]);
  });
});
