/**
 * The fleet page: one module, no framework. It asks /api/session who it is, opens the live channel
 * (a snapshot, then coalesced updates at most twice a second) and draws a virtualized table.
 */
import type { FleetHostRow, FleetSummary, LiveMessage, PreflightDetails, SessionInfo } from '../fleet-api.js';
import { HostTable } from './host-table.js';
import { LiveClient, type LiveState } from './live-client.js';
import { showHostDetail } from './preflight-dialog.js';
import { renderSummary } from './summary-view.js';
import { filterRows, sortRows, type ColumnKey, type SortState, type StatusFilter } from './table-model.js';

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
}

async function loadSession(): Promise<SessionInfo | undefined> {
  const res = await fetch('/api/session', { cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 401) {
    window.location.assign('/login');
    return undefined;
  }
  if (!res.ok) throw new Error(`/api/session: ${res.status}`);
  return (await res.json()) as SessionInfo;
}

async function main(): Promise<void> {
  let session = await loadSession();
  if (!session) return;
  byId('who').textContent = `${session.user}${session.readOnly ? ' (read-only)' : ''}`;
  byId<HTMLInputElement>('csrf').value = session.csrfToken;

  const hosts = new Map<string, FleetHostRow>();
  let summary: FleetSummary | null = null;
  let clockOffset = 0;
  let sort: SortState = { key: 'name', dir: 'asc' };
  let query = '';
  let status: StatusFilter = 'all';
  let firstRender = true;
  let frame = 0;
  const now = (): number => Date.now() + clockOffset;

  const summaryRoot = byId('summary');
  const count = byId('count');
  const dialog = byId<HTMLDialogElement>('detail');
  const table = new HostTable(byId('hosts'), {
    onSort(key: ColumnKey) {
      sort = { key, dir: sort.key === key && sort.dir === 'asc' ? 'desc' : 'asc' };
      refresh();
    },
    onDetail(row) {
      // 404: no preflight ran on the host; the dialog still shows its facts, health and apply
      void fetch(`/api/hosts/${encodeURIComponent(row.id)}/preflight`, { cache: 'no-store' })
        .then(async (res) => (res.ok ? ((await res.json()) as PreflightDetails) : null))
        .catch(() => null)
        .then((details) => showHostDetail(dialog, hosts.get(row.id) ?? row, details, now()));
    },
  });

  function draw(): void {
    frame = 0;
    const all = [...hosts.values()];
    const shown = sortRows(filterRows(all, query, status, now()), sort);
    table.setRows(shown, now(), sort);
    count.textContent = `${shown.length} of ${all.length} hosts`;
    if (summary) renderSummary(summaryRoot, summary, now());
    document.body.dataset.hosts = String(all.length);
    if (firstRender && summary) {
      firstRender = false;
      performance.mark('kctl:fleet-rendered');
    }
  }
  function refresh(): void {
    if (frame === 0) frame = requestAnimationFrame(draw);
  }

  function onMessage(m: LiveMessage): void {
    switch (m.type) {
      case 'snapshot':
        clockOffset = m.snapshot.now - Date.now();
        hosts.clear();
        for (const h of m.snapshot.hosts) hosts.set(h.id, h);
        summary = m.snapshot.summary;
        break;
      case 'update':
        clockOffset = m.now - Date.now();
        for (const h of m.upserts) hosts.set(h.id, h);
        for (const id of m.removed) hosts.delete(id);
        summary = m.summary;
        break;
      case 'tick':
        clockOffset = m.now - Date.now();
        table.setNow(now());
        return;
    }
    document.body.dataset.seq = String(m.seq);
    refresh();
  }

  const liveLabel = byId('live');
  const live = new LiveClient({
    url: `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}${session.livePath}`,
    token: () => session?.csrfToken ?? '',
    onMessage,
    onState(state: LiveState) {
      document.body.dataset.live = state;
      liveLabel.dataset.state = state;
      liveLabel.textContent =
        state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
    },
    async onRefused() {
      session = (await loadSession().catch(() => undefined)) ?? session;
    },
  });
  live.start();

  let typing = 0;
  byId<HTMLInputElement>('filter').addEventListener('input', (e) => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => {
      query = (e.target as HTMLInputElement).value;
      refresh();
    }, 80);
  });
  byId<HTMLSelectElement>('status-filter').addEventListener('change', (e) => {
    status = (e.target as HTMLSelectElement).value as StatusFilter;
    refresh();
  });
  // relative times ("12s ago", elapsed) move on without server messages
  window.setInterval(refresh, 5000);
}

void main();
