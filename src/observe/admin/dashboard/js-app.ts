/**
 * The second half of /app.js: polling, the tables, login and the Drain / Ready buttons.
 * Plain browser JavaScript in a TS string, no template literals (see js-view.ts).
 */
// biome-ignore lint/complexity/noUselessStringRaw: raw, so that a \n written in the browser code stays an escape there
export const APP_JS = String.raw`
const POLL_MS = 1000;
// sessionStorage, never a cookie: a cookie would ride along on a request that another site's
// page makes to this origin; a header that only this page's code sets cannot be forged so.
const TOKEN_KEY = "trunkline.admin.token";

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function showAuth() {
  const has = token() !== "";
  byId("login").hidden = has;
  byId("logged").hidden = !has;
}

function say(text, bad) {
  const m = byId("msg");
  m.hidden = !text;
  m.className = bad ? "msg bad" : "msg";
  setText(m, text || "");
}

function askToken(why) {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {}
  showAuth();
  say(why, true);
  byId("token").focus();
}

byId("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = byId("token");
  const v = input.value.trim();
  if (!v) return input.focus();
  try {
    sessionStorage.setItem(TOKEN_KEY, v);
  } catch {
    return say("This browser keeps no session storage, so the token cannot be kept.", true);
  }
  input.value = "";
  showAuth();
  say("");
});

byId("logout").addEventListener("click", () => {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {}
  showAuth();
});

let lastReloadKey = "";

function renderStatus(s) {
  setText(byId("version"), s.version);
  setText(byId("pid"), s.pid);
  setText(byId("uptime"), duration(s.uptime_s));
  setText(byId("generation"), s.generation);
  const cfg = byId("config");
  setText(cfg, s.config.source + " · " + s.config.digest.slice(0, 12));
  cfg.title = s.config.digest;
  const r = s.last_reload;
  const key = JSON.stringify(r);
  if (key === lastReloadKey) return;
  lastReloadKey = key;
  const sum = byId("reload-summary");
  const errs = byId("reload-errors");
  sum.replaceChildren();
  errs.replaceChildren();
  if (!r) return sum.append("none since start");
  sum.append(el("span", "badge " + r.outcome, r.outcome), " " + new Date(r.at).toLocaleString() + " · " + r.reason);
  if (r.code) sum.append(" · " + r.code);
  for (const e of r.errors || []) errs.appendChild(el("li", "", e));
}

function listenerAddress(l) {
  // Port 0 in the config means "any": show the port the listener really has.
  return l.port !== null && /:0$/.test(l.listen) ? l.listen.replace(/:0$/, ":" + l.port) : l.listen;
}

function renderListeners(list) {
  syncChildren(
    byId("listener-rows"),
    list,
    (l) => l.name,
    () => {
      const tr = el("tr");
      for (const [label, cls] of [
        ["Name", ""],
        ["Protocol", ""],
        ["Address", ""],
        ["TLS", ""],
        ["Active", "num"],
        ["Pending", "num"],
      ])
        cell(tr, label, cls);
      return tr;
    },
    (tr, l) => {
      const v = [l.name, l.protocol, listenerAddress(l), l.tls ? "yes" : "no", l.sessions_active, l.pending];
      v.forEach((x, i) => setText(tr.children[i], x));
    },
  );
}

// Why a server is in its state: the layer that set a drain or maint, or what saw it down.
function why(s) {
  const L = s.layers;
  if (s.state === "down") {
    if (L.agent.down) return "agent: " + L.agent.down;
    if (L.esl && L.esl.down) return L.esl.down;
    if (L.health.state === "down") return "health: " + L.health.reason;
    if (L.passive.down_until) return "passive: down until " + clock(L.passive.down_until);
    return "down";
  }
  return s.admin_layer;
}

function makeServerRow(pool) {
  const tr = el("tr");
  cell(tr, "Server", "c-addr");
  cell(tr, "State", "c-state").appendChild(el("span", "badge"));
  cell(tr, "Layer", "c-why why");
  cell(tr, "Weight", "c-weight num");
  cell(tr, "Active / max", "c-active num");
  cell(tr, "Total", "c-total num");
  const act = cell(tr, "", "actions");
  for (const action of ["drain", "ready"]) {
    const b = el("button", action, action === "drain" ? "Drain" : "Ready");
    b.type = "button";
    b.addEventListener("click", () => change(pool, tr.getAttribute("data-address"), action, tr));
    act.appendChild(b);
  }
  return tr;
}

function fillServerRow(tr, s) {
  tr.setAttribute("data-address", s.address);
  const c = (cls) => tr.querySelector("." + cls);
  setText(c("c-addr"), s.address + (s.backup ? " (backup)" : ""));
  const badge = c("c-state").firstChild;
  badge.className = "badge " + s.state;
  setText(badge, s.state);
  setText(c("c-why"), why(s));
  setText(c("c-weight"), s.weight);
  setText(c("c-active"), s.active + " / " + (s.max_sessions > 0 ? s.max_sessions : "no max"));
  setText(c("c-total"), s.total);
  const busy = tr.hasAttribute("data-busy");
  const op = s.layers.operator.admin;
  c("drain").disabled = busy || op === "drain";
  c("ready").disabled = busy || op === null;
}

function renderPools(pools) {
  syncChildren(
    byId("pools"),
    pools,
    (p) => p.name,
    (p) => {
      const sec = el("section", "card pool");
      sec.setAttribute("data-pool", p.name);
      const h = el("h2", "", "Pool " + p.name + " ");
      h.appendChild(el("span", "meta"));
      sec.appendChild(h);
      const table = el("table", "rows");
      const head = el("tr");
      for (const t of ["Server", "State", "Layer", "Weight", "Active / max", "Total", ""]) {
        const th = el("th", t === "Weight" || t === "Total" || t === "Active / max" ? "num" : "", t);
        head.appendChild(th);
      }
      table.appendChild(el("thead")).appendChild(head);
      table.appendChild(el("tbody"));
      sec.appendChild(table);
      return sec;
    },
    (sec, p) => {
      setText(sec.querySelector(".meta"), p.protocol + " · " + p.balance);
      const name = p.name;
      syncChildren(sec.querySelector("tbody"), p.servers, (s) => s.address, () => makeServerRow(name), fillServerRow);
    },
  );
}

async function change(pool, address, action, tr) {
  tr.setAttribute("data-busy", "");
  for (const b of tr.querySelectorAll("button")) b.disabled = true;
  const t = token();
  const headers = t ? { authorization: "Bearer " + t } : {};
  const path = "/api/v1/pools/" + encodeURIComponent(pool) + "/servers/" + encodeURIComponent(address);
  try {
    const res = await request(path + "/" + action, { method: "POST", headers });
    if (res.status === 401)
      return askToken(t ? "The proxy refused the token: enter it again." : "Log in with the admin token first.");
    const body = await res.json().catch(() => null);
    if (!res.ok) return say(action + " " + address + ": " + (body?.error?.message || "HTTP " + res.status), true);
    say((action === "drain" ? "Drained " : "Ready again: ") + address + " (state " + body.state + ")");
  } catch (err) {
    say(action + " " + address + ": no answer from the proxy (" + err.message + ")", true);
  } finally {
    tr.removeAttribute("data-busy");
    refresh();
  }
}

let prevTotals = null;
let prevT = 0;
let lastOk = 0;

function record(status, pools, now) {
  // One server per address, shared by every pool that lists it: count its total once.
  const totals = new Map();
  for (const p of pools) for (const s of p.servers) totals.set(s.address, s.total);
  let rate = null;
  if (prevTotals && now > prevT) {
    let n = 0;
    for (const [a, t] of totals) {
      const before = prevTotals.get(a);
      if (before !== undefined && t > before) n += t - before;
    }
    rate = n / ((now - prevT) / 1000);
  }
  let active = 0;
  for (const l of status.listeners) active += l.sessions_active;
  addSample({ t: now, rate, active });
  prevTotals = totals;
  prevT = now;
}

async function poll() {
  const live = byId("live");
  try {
    const [status, pools] = await Promise.all([getJson("/api/v1/status"), getJson("/api/v1/pools")]);
    const now = Date.now();
    lastOk = now;
    record(status, pools.pools, now);
    renderStatus(status);
    renderListeners(status.listeners);
    renderRoutes(status.routes);
    renderPools(pools.pools);
    renderSource(status.config_source);
    if (status.config_source.kind === "etcd") renderCluster(await getJson("/api/v1/cluster"));
    renderCharts(now);
    live.className = "live ok";
    setText(live, "live · " + clock(now));
  } catch {
    live.className = "live bad";
    setText(live, "no answer since " + (lastOk ? clock(lastOk) : "this page opened"));
  }
}

// One poll at a time; a refresh asked for during one (after a button) runs right after it.
let inflight = false;
let again = false;
let timer = 0;

function refresh() {
  if (inflight) {
    again = true;
    return;
  }
  clearTimeout(timer);
  inflight = true;
  poll().finally(() => {
    inflight = false;
    if (again) {
      again = false;
      refresh();
    } else timer = setTimeout(refresh, POLL_MS);
  });
}

showAuth();
refresh();
`;
