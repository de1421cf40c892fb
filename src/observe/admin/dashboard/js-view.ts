/**
 * The first half of /app.js: DOM helpers, bounded requests and the charts. Plain browser
 * JavaScript in a TS string (see html.ts for why); written without template literals so that
 * nothing in it is read as a TS substitution. dashboard.ts joins it with js-app.ts inside one
 * function scope.
 */
// biome-ignore lint/complexity/noUselessStringRaw: raw, so that a \n written in the browser code stays an escape there
export const VIEW_JS = String.raw`
// Values reach the DOM only through textContent and setAttribute: addresses, reasons and
// reload errors come from config files and peers and must never be parsed as markup.
const SVG_NS = "http://www.w3.org/2000/svg";
const WINDOW_MS = 15 * 60 * 1000;
// A longer silence between two answers is a gap in the chart, not a straight line across it.
const GAP_MS = 5000;
const PLOT_W = 900;
const PLOT_H = 100;
// A proxy that accepts but never answers costs one slow poll, not a page stuck for good.
const FETCH_TIMEOUT_MS = 5000;

const byId = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// Writes only on change: a node rewritten every second would lose a text selection.
function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

function cell(tr, label, cls) {
  const td = el("td", cls);
  td.setAttribute("data-label", label);
  tr.appendChild(td);
  return td;
}

async function request(path, init) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    return await fetch(path, Object.assign({ cache: "no-store", signal: ctl.signal }, init));
  } finally {
    clearTimeout(timer);
  }
}

async function getJson(path) {
  const res = await request(path, {});
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
  return e;
}

function clock(at) {
  return new Date(at).toLocaleTimeString();
}

function duration(s) {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return d + " d " + h + " h";
  if (h > 0) return h + " h " + m + " min";
  if (m > 0) return m + " min " + (s % 60) + " s";
  return s + " s";
}

function fmtRate(v) {
  if (v === null) return "–";
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

/**
 * Keeps tbody's rows in the order of items, one per key: rows are updated in place, so a
 * button is never replaced under the pointer between a press and its click.
 */
function syncChildren(parent, items, keyOf, make, fill) {
  const have = new Map();
  for (const c of Array.from(parent.children)) have.set(c.getAttribute("data-key"), c);
  const kept = new Set();
  let i = 0;
  for (const it of items) {
    const k = keyOf(it);
    let node = have.get(k);
    if (node) have.delete(k);
    else {
      node = make(it);
      node.setAttribute("data-key", k);
    }
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    fill(node, it);
    kept.add(node);
    i++;
  }
  // Every child this pass did not place goes: the ones whose item is gone, and extra ones
  // of an item whose key came twice (each pass would otherwise leave one more behind).
  for (const c of Array.from(parent.children)) if (!kept.has(c)) c.remove();
}

// Samples kept in this page only (nothing is stored on the proxy): t in ms, rate in new
// sessions per second (null for the first answer, which has nothing to compare with), active.
const samples = [];

function addSample(s) {
  samples.push(s);
  while (samples.length > 0 && samples[0].t < s.t - WINDOW_MS) samples.shift();
}

// Round scales (1, 2, 5, 10, 20, ...) so that the grid lines read as simple fractions.
function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawPlot(svg, key, now) {
  let max = 0;
  for (const s of samples) if (s[key] !== null && s[key] > max) max = s[key];
  const top = niceMax(max);
  const start = now - WINDOW_MS;
  let d = "";
  let prev = null;
  for (const s of samples) {
    const v = s[key];
    if (v === null) {
      prev = null;
      continue;
    }
    const x = ((s.t - start) / WINDOW_MS) * PLOT_W;
    const y = PLOT_H - 2 - (v / top) * (PLOT_H - 4);
    const jump = prev === null || s.t - prev > GAP_MS;
    d += (jump ? "M" : "L") + x.toFixed(1) + " " + y.toFixed(1) + " ";
    prev = s.t;
  }
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  for (const f of [0.25, 0.5, 0.75]) {
    const y = PLOT_H * f;
    svg.appendChild(
      svgEl("line", { x1: 0, x2: PLOT_W, y1: y, y2: y, class: "grid", "vector-effect": "non-scaling-stroke" }),
    );
  }
  // The viewBox stretches to the page's width; non-scaling strokes keep the line 2 px thick.
  if (d) svg.appendChild(svgEl("path", { d: d.trim(), class: "line", "vector-effect": "non-scaling-stroke" }));
  return top;
}

function renderCharts(now) {
  const last = samples[samples.length - 1];
  setText(byId("rate-now"), last ? fmtRate(last.rate) + " /s" : "–");
  setText(byId("active-now"), last ? String(last.active) : "–");
  setText(byId("rate-max"), drawPlot(byId("rate-chart"), "rate", now) + " /s");
  setText(byId("active-max"), drawPlot(byId("active-chart"), "active", now));
}

// Routes change only with a reload: rebuilt whole, values as text.
function renderRoutes(routes) {
  const rows = routes.map((r) => {
    const tr = el("tr");
    for (const [label, v] of [["Route", r.name], ["Listener", r.listener], ["Matches", r.match], ["Then", r.action]])
      setText(cell(tr, label, ""), v);
    return tr;
  });
  byId("route-rows").replaceChildren(...rows);
}
`;
