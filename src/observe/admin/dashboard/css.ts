/** The dashboard's style (/app.css); a TS string so that dist/ carries it (see html.ts). */
export const APP_CSS = `
:root {
  --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #5d6676; --line: #dde1e8;
  --accent: #1f6feb; --up: #1a7f37; --down: #cf222e; --drain: #9a6700; --maint: #6e40c9;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1218; --card: #181c24; --ink: #e6e9ef; --muted: #9aa3b2; --line: #2c3340;
    --accent: #58a6ff; --up: #3fb950; --down: #f85149; --drain: #d29922; --maint: #a371f7;
  }
}
* { box-sizing: border-box; }
/* The login form and the "logged in" line are display: flex, which would beat the hidden attribute. */
[hidden] { display: none !important; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
h1 { font-size: 1.25rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .6rem; }
.top {
  display: flex; flex-wrap: wrap; gap: .6rem 1.5rem; align-items: center; justify-content: space-between;
  padding: .75rem 1rem; background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { display: flex; gap: .75rem; align-items: baseline; flex-wrap: wrap; }
.live { font-size: .85rem; color: var(--muted); }
.live.ok::before { content: "● "; color: var(--up); }
.live.bad { color: var(--down); }
.auth { min-width: 0; }
.login, .logged { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; font-size: .9rem; }
.login input { flex: 1 1 12rem; min-width: 0; padding: .4rem .5rem; font: inherit; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--ink); }
button {
  font: inherit; font-size: .9rem; padding: .35rem .75rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--card); color: var(--ink);
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: .45; cursor: default; }
.login button { background: var(--accent); border-color: var(--accent); color: #fff; }
.msg { margin: 0; padding: .5rem .75rem; border-radius: 6px; background: var(--card);
  border-left: 4px solid var(--accent); overflow-wrap: anywhere; }
.msg.bad { border-left-color: var(--down); }
main { display: grid; gap: 1rem; padding: 1rem; max-width: 1200px; margin: 0 auto; }
/* Side by side when there is room, one above the other on a phone. */
.pair { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 340px), 1fr)); }
#pools { display: grid; gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .9rem 1rem;
  min-width: 0; }
.card .meta { color: var(--muted); font-weight: normal; font-size: .9rem; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: .5rem 1rem; margin: 0; }
.facts .wide { grid-column: 1 / -1; }
.facts dt { color: var(--muted); font-size: .8rem; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
#reload-summary { margin: 0; overflow-wrap: anywhere; }
.errors { margin: .5rem 0 0; padding-left: 1.2rem; color: var(--down); overflow-wrap: anywhere; }
.errors:empty { display: none; }
.chart { margin-bottom: .9rem; }
.chart-head { display: flex; gap: .6rem; align-items: baseline; flex-wrap: wrap; font-size: .9rem; }
.chart-head strong { font-size: 1.15rem; }
.chart-head .scale { margin-left: auto; color: var(--muted); font-size: .8rem; }
.plot { display: block; width: 100%; height: 110px; background: var(--bg); border-radius: 6px; }
.plot .grid { stroke: var(--line); stroke-width: 1; }
.plot .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
.plot.rate .line { stroke: var(--accent); }
.plot.active .line { stroke: var(--up); }
.axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .75rem; }
table.rows { width: 100%; border-collapse: collapse; font-size: .92rem; }
.rows th { text-align: left; color: var(--muted); font-weight: 600; font-size: .8rem; }
.rows th, .rows td { padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
.rows td { overflow-wrap: anywhere; }
.rows .num { text-align: right; font-variant-numeric: tabular-nums; }
.rows .actions { white-space: nowrap; text-align: right; }
.rows .actions button + button { margin-left: .35rem; }
.why { color: var(--muted); font-size: .85rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600;
  color: #fff; background: var(--muted); }
.badge.up, .badge.applied { background: var(--up); }
.badge.down, .badge.rejected { background: var(--down); }
.badge.drain { background: var(--drain); }
.badge.maint { background: var(--maint); }
.empty { color: var(--muted); }
@media (max-width: 640px) {
  .top { padding: .6rem .75rem; }
  main, .pair, #pools { gap: .75rem; }
  main { padding: .75rem; }
  .rows thead { display: none; }
  .rows, .rows tbody, .rows tr, .rows td { display: block; width: 100%; }
  .rows tr { border: 1px solid var(--line); border-radius: 8px; padding: .35rem .7rem; margin-bottom: .6rem; }
  .rows td { display: flex; justify-content: space-between; gap: 1rem; padding: .2rem 0; border: 0;
    text-align: right; }
  .rows td::before { content: attr(data-label); color: var(--muted); text-align: left; flex: none; }
  .rows td.num { text-align: right; }
  .rows td.actions { justify-content: flex-end; padding-top: .4rem; }
  .rows td.actions::before { content: none; }
  .rows .actions button { padding: .45rem 1rem; }
}
`;
