/**
 * The dashboard's page. Kept as a TS string so that `tsc` carries it into dist/ (it copies no
 * other files) and the proxy needs no path to find it at run time. No inline script: the admin
 * CSP (server.ts) allows scripts only from this origin, so the code is /app.js.
 */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trunkline</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand">
    <h1>Trunkline</h1>
    <span id="live" class="live" role="status">connecting…</span>
  </div>
  <div class="auth">
    <form id="login" class="login" autocomplete="off">
      <label for="token">Admin token</label>
      <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="for Drain and Ready">
      <button type="submit">Log in</button>
    </form>
    <div id="logged" class="logged" hidden>
      <span>Token kept for this tab</span>
      <button id="logout" type="button">Forget</button>
    </div>
  </div>
</header>
<main>
  <p id="msg" class="msg" role="alert" hidden></p>
  <div class="pair">
    <section class="card" id="overview">
      <h2>Proxy</h2>
      <dl class="facts">
        <div><dt>Version</dt><dd id="version">–</dd></div>
        <div><dt>PID</dt><dd id="pid">–</dd></div>
        <div><dt>Uptime</dt><dd id="uptime">–</dd></div>
        <div><dt>Generation</dt><dd id="generation">–</dd></div>
        <div class="wide"><dt>Config</dt><dd id="config">–</dd></div>
      </dl>
    </section>
    <section class="card" id="reload">
      <h2>Last reload</h2>
      <p id="reload-summary">none since start</p>
      <ul id="reload-errors" class="errors"></ul>
    </section>
  </div>
  <section class="card" id="activity">
    <h2>Last 15 minutes</h2>
    <div class="chart">
      <div class="chart-head">
        <span>Sessions per second</span>
        <strong id="rate-now">–</strong>
        <span class="scale">scale <span id="rate-max">1</span></span>
      </div>
      <svg id="rate-chart" class="plot rate" viewBox="0 0 900 100" preserveAspectRatio="none"
        role="img" aria-label="New sessions per second over the last 15 minutes"></svg>
      <div class="axis"><span>−15 min</span><span>now</span></div>
    </div>
    <div class="chart">
      <div class="chart-head">
        <span>Active sessions</span>
        <strong id="active-now">–</strong>
        <span class="scale">scale <span id="active-max">1</span></span>
      </div>
      <svg id="active-chart" class="plot active" viewBox="0 0 900 100" preserveAspectRatio="none"
        role="img" aria-label="Active sessions over the last 15 minutes"></svg>
      <div class="axis"><span>−15 min</span><span>now</span></div>
    </div>
  </section>
  <section class="card" id="listeners">
    <h2>Listeners</h2>
    <table class="rows">
      <thead><tr><th>Name</th><th>Protocol</th><th>Address</th><th>TLS</th><th class="num">Active</th><th class="num">Pending</th></tr></thead>
      <tbody id="listener-rows"></tbody>
    </table>
  </section>
  <section class="card" id="routes">
    <h2>Routes <span class="meta">tried in order; the first match wins</span></h2>
    <table class="rows">
      <thead><tr><th>Route</th><th>Listener</th><th>Matches</th><th>Then</th></tr></thead>
      <tbody id="route-rows"></tbody>
    </table>
  </section>
  <section class="card" id="cluster" hidden>
    <h2>Cluster <span id="cluster-state" class="badge"></span> <span id="cluster-meta" class="meta"></span></h2>
    <table class="rows">
      <thead><tr><th>Proxy</th><th>Host</th><th class="num">PID</th><th>Admin</th><th class="num">Revision</th><th>Config</th><th>Started</th></tr></thead>
      <tbody id="cluster-rows"></tbody>
    </table>
    <p id="cluster-more" class="meta" hidden></p>
    <ul id="cluster-invalid" class="errors"></ul>
  </section>
  <div id="pools"></div>
</main>
</body>
</html>
`;

/** The tab's icon; named in the page so that a browser does not ask for /favicon.ico (a 404). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1f6feb"/>
<path d="M8 9h16M16 9v15" stroke="#fff" stroke-width="4" stroke-linecap="round"/>
</svg>
`;
