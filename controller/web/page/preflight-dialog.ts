import type { FleetHostRow, PreflightDetails } from '../fleet-api.js';
import { expiryText, formatAgo, healthText, hostApplyText, inactiveUnits, preflightText } from './format.js';
import { el } from './host-table.js';

const ORDER = { fail: 0, warn: 1, skip: 2, pass: 3 } as const;

/**
 * One host in a modal dialog: its kube packages and unit states (refreshed facts), its last health
 * run and apply, and its install preflight checks, worst first. Preflight lives here and not in a
 * fleet-wide column: on a running node it fails by design (ports in use, kubeadm files present).
 */
export function showHostDetail(
  dialog: HTMLDialogElement,
  row: FleetHostRow,
  preflight: PreflightDetails | null,
  now: number,
): void {
  const title = el('h2');
  title.textContent = row.name;
  // first in the dialog: showModal focuses it, and a focused button at the bottom would scroll there
  const close = el('button', 'close');
  close.textContent = 'Close';
  close.addEventListener('click', () => dialog.close());

  const facts = el('dl', 'facts');
  const add = (term: string, value: string, key: string): void => {
    const dt = el('dt');
    dt.textContent = term;
    const dd = el('dd');
    dd.textContent = value;
    dd.dataset.fact = key;
    facts.append(dt, dd);
  };
  add('Kubernetes', row.kubeVersion ?? '-', 'kube');
  add(
    'Kube packages',
    Object.entries(row.kubePackages ?? {})
      .map(([name, version]) => `${name} ${version}`)
      .join(', ') || '-',
    'packages',
  );
  add(
    'Services',
    row.services === null
      ? '- (systemd is not init)'
      : Object.entries(row.services)
          .map(([unit, state]) => `${unit.replace(/\.service$/, '')} ${state}`)
          .join(', '),
    'services',
  );
  const h = row.health;
  add(
    'Health',
    h === null
      ? `${healthText(row)} (no health run yet: kctl health)`
      : `${healthText(row)}, checked ${formatAgo(now - h.at)}${
          h.findings.length > 0 ? `: ${h.findings.join(', ')}` : ''
        }`,
    'health',
  );
  if (h !== null && h.drift.length > 0) add('Drift', h.drift.join('; '), 'drift');
  if (h !== null && h.certs.length > 0)
    add(
      'Certificates',
      h.certs
        .map(
          (c) =>
            `${c.path} ${expiryText(c.notAfter, now)} (${new Date(c.notAfter).toISOString().slice(0, 10)})`,
        )
        .join('; '),
      'certs',
    );
  add(
    'Last apply',
    row.apply === null ? '-' : `${hostApplyText(row.apply)}, ${formatAgo(now - row.apply.at)}`,
    'apply',
  );
  const parts: HTMLElement[] = [close, title, facts];
  if (inactiveUnits(row).length > 0) {
    const warn = el('p', 'failure');
    warn.textContent = `Not active: ${inactiveUnits(row).join(', ')}`;
    parts.push(warn);
  }

  const pfTitle = el('h3');
  pfTitle.textContent = 'Install preflight';
  parts.push(pfTitle);
  if (preflight === null) {
    const none = el('p', 'meta');
    none.textContent = 'No preflight run for this host (kctl preflight).';
    parts.push(none);
  } else {
    parts.push(...preflightParts(preflight, row, now));
  }
  dialog.replaceChildren(...parts);
  if (!dialog.open) dialog.showModal();
}

function preflightParts(details: PreflightDetails, row: FleetHostRow, now: number): HTMLElement[] {
  const meta = el('p', 'meta');
  meta.textContent = `${row.preflight ? `${preflightText(row.preflight)}; ` : ''}${details.spec.role}, Kubernetes ${
    details.spec.kubernetesVersion
  }, ran ${formatAgo(now - details.at)}${
    details.durationMs === null ? '' : ` in ${Math.round(details.durationMs)} ms`
  }`;
  const parts: HTMLElement[] = [meta];
  if (details.error) {
    const err = el('p', 'failure');
    err.textContent = `Could not run: ${details.error.message}`;
    parts.push(err);
  }
  if (details.results) {
    // fixed layout with set column widths: long remedies wrap inside the dialog instead of running off it
    const table = el('table', 'checks');
    const cols = el('colgroup');
    for (const cls of ['c-status', 'c-check', 'c-observed', 'c-expected', 'c-remedy'])
      cols.append(el('col', cls));
    const head = el('tr');
    for (const h of ['Status', 'Check', 'Observed', 'Expected', 'Remedy']) {
      const th = el('th');
      th.textContent = h;
      head.append(th);
    }
    table.append(cols, head);
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
  return parts;
}
