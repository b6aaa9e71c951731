import type { PreflightDetails } from '../fleet-api.js';
import { formatAgo } from './format.js';
import { el } from './host-table.js';

const ORDER = { fail: 0, warn: 1, skip: 2, pass: 3 } as const;

/** The checks of one host, worst first, in a modal dialog. */
export function showPreflight(dialog: HTMLDialogElement, details: PreflightDetails, now: number): void {
  const title = el('h2');
  title.textContent = `Preflight of ${details.host}`;
  const meta = el('p', 'meta');
  meta.textContent = `${details.spec.role}, Kubernetes ${details.spec.kubernetesVersion}, ran ${formatAgo(now - details.at)}${
    details.durationMs === null ? '' : ` in ${Math.round(details.durationMs)} ms`
  }`;
  // first in the dialog: showModal focuses it, and a focused button at the bottom would scroll there
  const close = el('button', 'close');
  close.textContent = 'Close';
  close.addEventListener('click', () => dialog.close());
  const parts: HTMLElement[] = [close, title, meta];
  if (details.error) {
    const err = el('p', 'failure');
    err.textContent = `Could not run: ${details.error.message}`;
    parts.push(err);
  }
  if (details.results) {
    const table = el('table', 'checks');
    const head = el('tr');
    for (const h of ['Status', 'Check', 'Observed', 'Expected', 'Remedy']) {
      const th = el('th');
      th.textContent = h;
      head.append(th);
    }
    table.append(head);
    const results = [...details.results].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
    for (const r of results) {
      const tr = el('tr', `check-${r.status}`);
      for (const text of [
        r.status + (r.ignored ? ' (ignored)' : ''),
        `${r.id}: ${r.title}`,
        r.observed,
        r.expected,
        r.remedy,
      ]) {
        const td = el('td');
        td.textContent = text;
        tr.append(td);
      }
      table.append(tr);
    }
    parts.push(table);
  }
  dialog.replaceChildren(...parts);
  if (!dialog.open) dialog.showModal();
}
