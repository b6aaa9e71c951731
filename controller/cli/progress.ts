import type { ApplyEventLine } from '../../proto/plan-api.js';

interface PhaseState {
  id: string;
  title: string;
  total: number;
  done: number;
  failed: number;
  current: Map<string, string>;
}

const BAR_WIDTH = 20;

export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * Live per-phase progress bars with each host's current step, redrawn in place on a terminal.
 * Failures are printed above the bars so they stay on screen.
 */
export class ApplyProgress {
  private phases: PhaseState[] = [];
  private drawnLines = 0;
  private readonly started = Date.now();

  constructor(private readonly write: (text: string) => void) {}

  handle(e: ApplyEventLine): void {
    switch (e.type) {
      case 'apply-start':
        this.phases = e.phases.map((p) => ({
          id: p.id,
          title: p.title,
          total: p.tasks,
          done: 0,
          failed: 0,
          current: new Map(),
        }));
        break;
      case 'task-skipped':
        this.phase(e.phase).done++;
        break;
      case 'task-start':
        this.phase(e.phase).current.set(e.host, e.title);
        break;
      case 'task-progress':
        this.phase(e.phase).current.set(e.host, e.message);
        break;
      case 'task-done': {
        const p = this.phase(e.phase);
        p.done++;
        p.current.delete(e.host);
        break;
      }
      case 'task-failed': {
        const p = this.phase(e.phase);
        if (!e.willRetry) {
          p.failed++;
          p.current.delete(e.host);
        }
        this.above(`${e.willRetry ? 'retrying' : 'FAILED'} ${e.host} (${e.phase}): ${e.error.message}`);
        break;
      }
      case 'apply-done':
        this.redraw();
        this.write(
          `apply ${e.status} in ${((Date.now() - this.started) / 1000).toFixed(1)}s${e.error ? `: ${e.error.message}` : ''}\n`,
        );
        this.drawnLines = 0;
        return;
      case 'error':
        this.above(`error: ${e.error.message}`);
        return;
      case 'no-changes':
        this.write(`cluster ${e.cluster}: no changes.\n`);
        return;
      case 'apply-superseded':
        this.write(`${e.message}\n`);
        return;
      case 'phase-start':
      case 'phase-done':
        break;
    }
    this.redraw();
  }

  private phase(id: string): PhaseState {
    let p = this.phases.find((x) => x.id === id);
    if (!p) {
      p = { id, title: id, total: 0, done: 0, failed: 0, current: new Map() };
      this.phases.push(p);
    }
    return p;
  }

  private above(line: string): void {
    this.clear();
    this.write(line + '\n');
    this.redraw();
  }

  private clear(): void {
    if (this.drawnLines > 0) this.write(`\x1b[${this.drawnLines}F\x1b[J`);
    this.drawnLines = 0;
  }

  private redraw(): void {
    this.clear();
    const lines = this.phases.map((p) => {
      const hosts = [...p.current.entries()].slice(0, 3).map(([h, s]) => `${h}: ${s}`);
      const more = p.current.size > 3 ? ` +${p.current.size - 3}` : '';
      const status = p.failed > 0 ? ` ${p.failed} failed` : '';
      return `${p.title.padEnd(36).slice(0, 36)} ${progressBar(p.done, p.total)} ${p.done}/${p.total}${status}  ${hosts.join(', ')}${more}`.slice(
        0,
        160,
      );
    });
    if (lines.length > 0) this.write(lines.join('\n') + '\n');
    this.drawnLines = lines.length;
  }
}
