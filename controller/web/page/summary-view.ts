import type { FleetSummary } from '../fleet-api.js';
import { applyHeadline } from './format.js';
import { el } from './host-table.js';

const MAX_LISTED = 6;

/** Counts by state, the current apply and the fleet warnings, above the table. */
export function renderSummary(root: HTMLElement, summary: FleetSummary, now: number): void {
  const cards: Array<[string, number, string]> = [
    ['Hosts', summary.total, 'total'],
    ['Online', summary.byStatus.online, 'online'],
    ['Offline', summary.byStatus.offline, 'offline'],
    ['Revoked', summary.byStatus.revoked, 'revoked'],
    ['Healthy', summary.health.ok, 'healthy'],
    ['Health warning', summary.health.warning, 'warn'],
    ['Health critical', summary.health.critical, 'fail'],
    ['Health unknown', summary.health.notRun, 'none'],
  ];
  const cardRow = el('div', 'cards');
  for (const [label, n, kind] of cards) {
    const card = el('div', `card card-${kind}`);
    card.dataset.count = kind;
    const value = el('span', 'value');
    value.textContent = String(n);
    const name = el('span', 'label');
    name.textContent = label;
    card.append(value, name);
    cardRow.append(card);
  }

  const apply = el('section', 'apply');
  apply.setAttribute('aria-label', 'current apply');
  const a = summary.apply;
  if (a === null) {
    apply.textContent = 'No apply yet.';
  } else {
    const head = el('div', `apply-head apply-${a.status}`);
    head.textContent = `Apply ${applyHeadline(a, now)}`;
    const bar = el('progress');
    bar.max = Math.max(1, a.tasksTotal);
    bar.value = a.tasksDone;
    apply.append(head, bar);
    for (const f of a.failures.slice(0, MAX_LISTED)) {
      const line = el('div', 'failure');
      line.textContent = `${f.host}: ${f.step}: ${f.message}`;
      apply.append(line);
    }
  }

  const warnings = el('section', 'warnings');
  warnings.setAttribute('aria-label', 'fleet warnings');
  if (summary.warnings.length === 0) {
    warnings.textContent = summary.kubernetesVersion
      ? `No fleet warnings (kubelet skew judged against ${summary.kubernetesVersion}).`
      : 'No fleet warnings.';
  } else {
    const list = el('ul');
    for (const w of summary.warnings.slice(0, MAX_LISTED)) {
      const item = el('li', `warning sev-${w.severity}`);
      item.dataset.finding = w.id;
      item.textContent = `${w.id}: ${w.message}`;
      item.title = w.remedy;
      list.append(item);
    }
    if (summary.warnings.length > MAX_LISTED) {
      const more = el('li');
      more.textContent = `and ${summary.warnings.length - MAX_LISTED} more`;
      list.append(more);
    }
    warnings.append(list);
  }
  root.replaceChildren(cardRow, apply, warnings);
}
