import type { FleetHostRow } from '../fleet-api.js';
import { healthLevel } from '../fleet-health-level.js';
import { COLUMNS, visibleWindow, type ColumnKey, type SortState } from './table-model.js';

export const ROW_HEIGHT = 28;

/**
 * A virtualized host table: only the rows in view (plus a margin) exist in the DOM, absolutely
 * placed in a body as tall as all rows, so 1,000 or 10,000 hosts scroll alike.
 */
export class HostTable {
  private readonly body: HTMLElement;
  private readonly headers = new Map<ColumnKey, HTMLElement>();
  private readonly pool: HTMLElement[] = [];
  private rows: readonly FleetHostRow[] = [];
  private now = 0;
  private frame = 0;

  constructor(
    private readonly container: HTMLElement,
    private readonly handlers: {
      onSort(key: ColumnKey): void;
      onDetail(row: FleetHostRow): void;
    },
  ) {
    container.style.setProperty('--cols', COLUMNS.map((c) => c.width).join(' '));
    const head = el('div', 'row head');
    head.setAttribute('role', 'row');
    for (const col of COLUMNS) {
      const th = el('button', 'th');
      th.setAttribute('role', 'columnheader');
      th.dataset.sort = col.key;
      th.textContent = col.title;
      th.addEventListener('click', () => handlers.onSort(col.key));
      this.headers.set(col.key, th);
      head.append(th);
    }
    this.body = el('div', 'body');
    this.body.setAttribute('role', 'rowgroup');
    container.append(head, this.body);
    container.addEventListener('scroll', () => this.schedule(), { passive: true });
    window.addEventListener('resize', () => this.schedule());
    this.body.addEventListener('click', (event) => {
      const button = (event.target as Element).closest<HTMLElement>('button[data-row]');
      const row = button ? this.rows[Number(button.dataset.row)] : undefined;
      if (row) handlers.onDetail(row);
    });
  }

  setRows(rows: readonly FleetHostRow[], now: number, sort: SortState): void {
    this.rows = rows;
    this.now = now;
    this.container.setAttribute('aria-rowcount', String(rows.length + 1));
    this.body.style.height = `${rows.length * ROW_HEIGHT}px`;
    for (const [key, th] of this.headers) {
      const sorted = key === sort.key;
      th.setAttribute('aria-sort', sorted ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      th.dataset.dir = sorted ? sort.dir : '';
    }
    this.draw();
  }

  setNow(now: number): void {
    this.now = now;
    this.draw();
  }

  private schedule(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const { first, last } = visibleWindow(
      this.container.scrollTop,
      this.container.clientHeight,
      ROW_HEIGHT,
      this.rows.length,
    );
    while (this.pool.length < last - first) this.pool.push(this.makeRow());
    this.pool.forEach((rowEl, i) => {
      const index = first + i;
      const row = index < last ? this.rows[index] : undefined;
      if (!row) {
        rowEl.hidden = true;
        return;
      }
      rowEl.hidden = false;
      this.fill(rowEl, row, index);
    });
  }

  private makeRow(): HTMLElement {
    const rowEl = el('div', 'row');
    rowEl.setAttribute('role', 'row');
    for (const col of COLUMNS) {
      const cell = el('div', 'cell');
      cell.setAttribute('role', 'cell');
      cell.dataset.col = col.key;
      if (col.key === 'detail') cell.append(el('button', 'detail-button'));
      rowEl.append(cell);
    }
    this.body.append(rowEl);
    return rowEl;
  }

  private fill(rowEl: HTMLElement, row: FleetHostRow, index: number): void {
    rowEl.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    rowEl.dataset.host = row.name;
    rowEl.dataset.status = row.status;
    rowEl.setAttribute('aria-rowindex', String(index + 2));
    COLUMNS.forEach((col, i) => {
      const cell = rowEl.children[i] as HTMLElement;
      const text = col.text(row, this.now);
      if (col.key === 'detail') {
        const button = cell.firstElementChild as HTMLButtonElement;
        button.textContent = text;
        button.dataset.row = String(index);
        button.title = `${row.name}: facts, health and install preflight`;
        return;
      }
      if (col.key === 'health') cell.dataset.level = healthLevel(row);
      if (cell.textContent !== text) {
        cell.textContent = text;
        cell.title = text;
      }
    });
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  return e;
}
