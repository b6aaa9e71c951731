/**
 * The fleet page's HTML and CSS, as strings: the controller ships as one bundled file, so the
 * page travels inside it instead of beside it. The script is page-bundle.generated.ts.
 */

const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">`;

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>kctl fleet</title>
<script type="module" src="/static/app.js"></script>
</head>
<body>
<header class="top">
  <h1>kctl fleet</h1>
  <span id="live" class="live" data-state="connecting" role="status">connecting…</span>
  <span class="spacer"></span>
  <span id="who" class="who"></span>
  <form id="logout-form" method="post" action="/logout">
    <input type="hidden" name="csrf" id="csrf" value="">
    <button type="submit">Log out</button>
  </form>
</header>
<main>
  <section id="summary" class="summary" aria-label="cluster summary"></section>
  <div class="toolbar">
    <input id="filter" type="search" placeholder="Filter: name, role, IP, OS, version…" aria-label="filter hosts" autocomplete="off">
    <select id="status-filter" aria-label="status">
      <option value="all">all states</option>
      <option value="online">online</option>
      <option value="offline">offline</option>
      <option value="revoked">revoked</option>
    </select>
    <span id="count" class="count"></span>
  </div>
  <div id="hosts" class="grid" role="table" aria-label="hosts"></div>
</main>
<dialog id="detail" class="detail"></dialog>
</body>
</html>
`;

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** The login form posts a web token (or, with `certificate`, the admin client certificate). */
export function loginHtml(message?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>kctl fleet: log in</title>
</head>
<body class="login">
<main class="login-box">
  <h1>kctl fleet</h1>
  ${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
  <form method="post" action="/login">
    <label for="token">Web token</label>
    <input id="token" name="token" type="password" autocomplete="off" required autofocus>
    <button type="submit">Log in</button>
  </form>
  <form method="post" action="/login" class="cert">
    <input type="hidden" name="method" value="certificate">
    <button type="submit">Log in with the admin client certificate</button>
  </form>
  <p class="hint">Make a token on the controller host: <code>kctl web token create [--read-only]</code></p>
</main>
</body>
</html>
`;
}

export const APP_CSS = `
:root { --fg: #1b1f24; --muted: #5c6670; --line: #d6dbe0; --bg: #f6f8fa; --card: #fff;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0b5cad; --row: 28px;
  font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); height: 100vh; display: flex; flex-direction: column; }
button, input, select { font: inherit; }
.top { display: flex; align-items: center; gap: 12px; padding: 8px 16px; background: #24292f; color: #fff; }
.top h1 { font-size: 16px; margin: 0; }
.top .spacer { flex: 1; }
.top form { margin: 0; }
.top button { background: transparent; color: #fff; border: 1px solid #8c959f; border-radius: 4px; padding: 2px 10px; cursor: pointer; }
.live { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #57606a; }
.live[data-state="live"] { background: var(--ok); }
.live[data-state="reconnecting"] { background: var(--warn); }
main { flex: 1; display: flex; flex-direction: column; min-height: 0; padding: 12px 16px; gap: 10px; }
.summary { display: flex; flex-direction: column; gap: 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 96px; }
.card .value { display: block; font-size: 20px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.card-online .value { color: var(--ok); }
.card-offline .value, .card-fail .value { color: var(--bad); }
.card-warn .value { color: var(--warn); }
.card-healthy .value { color: var(--ok); }
.apply, .warnings { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.apply progress { width: 100%; height: 8px; }
.apply-failed { color: var(--bad); }
.failure { color: var(--bad); font-size: 13px; }
.warnings ul { margin: 0; padding-left: 18px; }
.warning.sev-error { color: var(--bad); }
.warning.sev-warning { color: var(--warn); }
.toolbar { display: flex; gap: 8px; align-items: center; }
.toolbar input { flex: 0 1 360px; padding: 4px 8px; border: 1px solid var(--line); border-radius: 4px; }
.toolbar select { padding: 4px; border: 1px solid var(--line); border-radius: 4px; }
.count { color: var(--muted); }
.grid { flex: 1; min-height: 200px; overflow: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.row { display: grid; grid-template-columns: var(--cols); min-width: 1180px; height: var(--row); align-items: center; }
.row.head { position: sticky; top: 0; z-index: 1; background: #eaeef2; border-bottom: 1px solid var(--line); }
.th { text-align: left; border: 0; background: none; padding: 0 8px; height: 100%; font-weight: 600; cursor: pointer; white-space: nowrap; }
.th[data-dir="asc"]::after { content: " \\25B2"; font-size: 10px; }
.th[data-dir="desc"]::after { content: " \\25BC"; font-size: 10px; }
.body { position: relative; }
.body .row { position: absolute; top: 0; left: 0; right: 0; border-bottom: 1px solid #eef1f4; }
.body .row:hover { background: #f3f6f9; }
.cell { padding: 0 8px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row[data-status="online"] [data-col="status"] { color: var(--ok); font-weight: 600; }
.row[data-status="offline"] [data-col="status"] { color: var(--bad); font-weight: 600; }
.row[data-status="revoked"] { color: var(--muted); text-decoration: line-through; }
.detail-button { border: 0; background: none; padding: 0; cursor: pointer; font: inherit; color: var(--accent); text-align: left;
  text-decoration: underline; }
[data-col="health"][data-level="ok"] { color: var(--ok); }
[data-col="health"][data-level="warning"] { color: var(--warn); font-weight: 600; }
[data-col="health"][data-level="critical"] { color: var(--bad); font-weight: 600; }
dialog.detail { background: var(--card); color: var(--fg); width: min(1100px, 95vw); max-width: 95vw; max-height: 85vh; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
dialog.detail h2 { margin: 0 0 8px; font-size: 16px; }
dialog.detail h3 { margin: 12px 0 4px; font-size: 14px; }
dialog.detail .meta { color: var(--muted); margin: 0 0 8px; }
dialog.detail .close { float: right; margin-left: 12px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.checks { width: 100%; table-layout: fixed; border-collapse: collapse; font-size: 13px; }
.checks .c-status { width: 6.5rem; }
.checks .c-check { width: 22%; }
.checks .c-observed { width: 20%; }
.checks .c-expected { width: 18%; }
.checks th, .checks td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; white-space: normal; }
.check-fail td:first-child { color: var(--bad); font-weight: 600; }
.check-warn td:first-child { color: var(--warn); font-weight: 600; }
.check-pass td:first-child { color: var(--ok); }
body.login { align-items: center; justify-content: center; }
.login-box { flex: none; min-height: auto; height: auto; display: block; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 24px; width: min(380px, 92vw); }
.login-box form { display: flex; flex-direction: column; gap: 8px; margin-bottom: 12px; }
.login-box input { padding: 6px 8px; border: 1px solid var(--line); border-radius: 4px; }
.login-box button { padding: 6px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
.login-box .cert button { background: #fff; color: var(--accent); }
.login-box .error { color: var(--bad); }
.login-box .hint { color: var(--muted); font-size: 12px; }
`;
