import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** A debug-level pino logger whose JSON lines a test reads back as objects, in order. */
export function captureJsonLog<Line>(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n'))
        if (text.trim() !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}
