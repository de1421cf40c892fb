/**
 * The dashboard's "Cluster" card, shown when etcd is a config source: the store's state, the
 * keys it ignored, and each proxy sharing it with the config revision it runs. Plain browser
 * JavaScript, joined with js-view.ts and js-app.ts in one scope (dashboard.ts).
 */
// biome-ignore lint/complexity/noUselessStringRaw: raw, so that a \n written in the browser code stays an escape there
export const CLUSTER_JS = String.raw`
function renderSource(src) {
  const card = byId("cluster");
  card.hidden = src.kind !== "etcd";
  if (card.hidden) return;
  const state = byId("cluster-state");
  state.className = "badge " + src.state;
  setText(state, "etcd " + src.state);
  let meta = src.endpoints.join(", ") + " · " + src.prefix + " · revision " + src.revision;
  if (src.from_cache) meta += " · from the local cache";
  if (src.last_error && src.state === "down") meta += " · " + src.last_error;
  setText(byId("cluster-meta"), meta);
  syncChildren(
    byId("cluster-invalid"),
    src.invalid_keys,
    (k) => k.reason,
    () => el("li"),
    (li, k) => setText(li, k.reason),
  );
}

function renderCluster(c) {
  // One page of the proxies (/api/v1/cluster answers 100 at most): say so when there are more.
  const more = byId("cluster-more");
  more.hidden = c.next == null;
  if (!more.hidden)
    setText(
      more,
      c.proxies.length + " of " + c.total + " proxies shown; the rest: GET /api/v1/cluster?after=" +
        encodeURIComponent(c.next),
    );
  syncChildren(
    byId("cluster-rows"),
    c.proxies,
    (p) => p.id,
    () => {
      const tr = el("tr");
      for (const [label, cls] of [
        ["Proxy", ""],
        ["Host", ""],
        ["PID", "num"],
        ["Admin", ""],
        ["Revision", "num"],
        ["Config", ""],
        ["Started", ""],
      ])
        cell(tr, label, cls);
      return tr;
    },
    (tr, p) => {
      const v = [
        p.id + (p.self ? " (this one)" : ""),
        p.hostname,
        p.pid,
        p.admin || "–",
        p.revision,
        p.digest.slice(0, 12),
        p.started_at ? new Date(p.started_at).toLocaleString() : "–",
      ];
      v.forEach((x, i) => setText(tr.children[i], x));
      tr.className = p.self ? "self" : "";
    },
  );
}
`;
