import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import type { BrowserContext, Page } from "playwright-core";
import { dashboardPages } from "../../src/observe/admin/dashboard.ts";
import { agiCall, defaultHeader } from "../helpers/asterisk.ts";
import { freshBrowser } from "../helpers/chromium.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
const TOKEN = "dashboard-token-of-32-characters";
const WAIT_MS = 8_000;

// The functions handed to page.evaluate run in Chromium; the tests compile without the DOM lib,
// so they are given only the little of it that they use.
declare const document: {
  querySelector(s: string): { textContent: string | null; getAttribute(n: string): string | null } | null;
  readonly cookie: string;
  readonly documentElement: { scrollWidth: number; clientWidth: number };
};
declare const sessionStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("the served script parses, and no page inlines a script (the admin CSP would block it)", () => {
  const pages = dashboardPages();
  assert.deepEqual([...pages.keys()].sort(), ["/", "/app.css", "/app.js", "/favicon.svg"]);
  new Script(pages.get("/app.js")!.body.toString("utf8"), { filename: "app.js" });
  const html = pages.get("/")!.body.toString("utf8");
  assert.deepEqual(html.match(/<script[^>]*>/g), ['<script src="/app.js" defer>']);
  assert.doesNotMatch(pages.get("/app.js")!.body.toString("utf8"), /innerHTML|outerHTML|insertAdjacentHTML/);
});

/** A fresh profile for each run: nothing from an earlier run (storage, cache) is seen. */
const browser = (): Promise<BrowserContext> =>
  freshBrowser(cleanup, {
    args: ["--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });

/** Waits until the text of `selector` (first match) satisfies `want` (a string: equal; a RegExp: match). */
async function seeText(page: Page, selector: string, want: string | RegExp): Promise<void> {
  const [src, flags, exact] = typeof want === "string" ? [want, "", true] : [want.source, want.flags, false];
  try {
    await page.waitForFunction(
      ({ selector, src, flags, exact }) => {
        const t = document.querySelector(selector)?.textContent ?? null;
        return t !== null && (exact ? t === src : new RegExp(src, flags).test(t));
      },
      { selector, src, flags, exact },
      { timeout: WAIT_MS },
    );
  } catch (err) {
    const now = await page.evaluate((s) => document.querySelector(s)?.textContent ?? "(absent)", selector);
    throw new Error(`${selector}: wanted ${String(want)}, shows ${JSON.stringify(now)} (${String(err)})`);
  }
}

test("the dashboard in Chromium: listeners, pools and charts follow real sessions; Drain and Ready with the token; a 401 asks again; values are text", async () => {
  const a = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 30_000 });
  const b = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(a.close, b.close);
  const p = await startProxy(
    `
admin: { listen: 127.0.0.1:0, token_file: admin.token }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    balance: failover
    servers: [ { address: 127.0.0.1:${a.port} }, { address: 127.0.0.1:${b.port} } ]
`,
    { files: { "admin.token": `${TOKEN}\n` } },
  );
  cleanup.push(p.close);
  const base = `http://127.0.0.1:${p.proxy.adminAddress!.port}`;
  const A = `tr[data-address="127.0.0.1:${a.port}"]`;
  const B = `tr[data-address="127.0.0.1:${b.port}"]`;
  const serverState = async (port: number) => {
    const r = (await (await fetch(`${base}/api/v1/pools/main`)).json()) as {
      servers: { address: string; state: string }[];
    };
    return r.servers.find((s) => s.address === `127.0.0.1:${port}`)?.state;
  };

  const index = await fetch(`${base}/`);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(index.headers.get("content-security-policy") ?? "", /default-src 'self'/);

  const ctx = await browser();
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // The one error a browser logs on its own: the 401 this test provokes below.
    if (m.type() === "error" && !/status of 401/.test(m.text()))
      problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  await page.goto(`${base}/`, { timeout: WAIT_MS });

  await seeText(page, "#live", /^live · /);
  await seeText(page, "#listener-rows tr td:nth-child(2)", "fastagi");
  await seeText(page, "#listener-rows tr td:nth-child(3)", `127.0.0.1:${p.port()}`);
  await seeText(page, '[data-pool="main"] .meta', "fastagi · failover");
  await seeText(page, "#route-rows tr td:nth-child(3)", "any");
  await seeText(page, "#route-rows tr td:nth-child(4)", "pool main");
  await seeText(page, `${A} .c-state`, "up");
  await seeText(page, `${B} .c-state`, "up");
  await seeText(page, `${A} .c-active`, "0 / no max");
  assert.equal(await page.isDisabled(`${A} button.ready`), true, "nothing to lift yet");

  // Log in: the token goes to sessionStorage, never to a cookie.
  await page.fill("#token", TOKEN);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#logged", { state: "visible", timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("trunkline.admin.token")), TOKEN);
  assert.equal(await page.evaluate(() => document.cookie), "");

  // A held session on A (failover: A first) shows as A's active count and on the listener.
  const held = connect({ host: "127.0.0.1", port: p.port() });
  held.on("error", () => {});
  cleanup.push(() => void held.destroy());
  held.write(defaultHeader({ url: "agi://x/held" }));
  await until(() => a.stats.active === 1, 3000, "the held session on A");
  await seeText(page, `${A} .c-active`, "1 / no max");
  await seeText(page, "#listener-rows tr td:nth-child(5)", "1");
  await seeText(page, "#active-now", "1");

  // Drain A from the page: its open session goes on, a new one lands on B.
  await page.click(`${A} button.drain`);
  await seeText(page, `${A} .c-state`, "drain");
  await seeText(page, `${A} .c-why`, "operator");
  await seeText(page, "#msg", new RegExp(`^Drained 127\\.0\\.0\\.1:${a.port}`));
  assert.equal(await serverState(a.port), "drain");
  assert.equal((await agiCall({ port: p.port(), url: "agi://x/new" })).status, "SUCCESS");
  assert.equal(b.stats.sessions, 1, "the new session went to B");
  assert.equal(a.stats.sessions, 1, "A took no new session");
  await seeText(page, `${B} .c-total`, "1");
  await page.waitForFunction(
    () => {
      const d = document.querySelector("#rate-chart path")?.getAttribute("d") ?? "";
      return [...d.matchAll(/[ML][\d.]+ ([\d.]+)/g)].some((m) => Number(m[1]) < 97);
    },
    undefined,
    { timeout: WAIT_MS },
  );

  held.destroy();
  await a.waitIdle(5000);
  await seeText(page, `${A} .c-active`, "0 / no max");
  await seeText(page, `${A} .c-state`, "drain");

  // A rejected reload: its errors are listed, as text (the value below is markup on purpose).
  p.writeConfig('listeners: [ { name: agi, protocol: "<img src=x>" } ]\n');
  const reload = await fetch(`${base}/api/v1/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(reload.status, 422);
  await seeText(page, "#reload-summary .badge", "rejected");
  await seeText(page, "#reload-errors", /unknown protocol "<img src=x>"/);
  assert.equal(await page.locator("img").count(), 0, "no value was parsed as markup");

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "dashboard-laptop.png"), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });
  await seeText(page, `${A} .c-state`, "drain");
  const widths = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(widths.scroll <= widths.client, `no horizontal scrolling at 375 px: ${JSON.stringify(widths)}`);
  await page.screenshot({ path: join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  await page.click(`${A} button.ready`);
  await seeText(page, `${A} .c-state`, "up");
  await seeText(page, "#msg", /^Ready again: /);
  assert.equal(await serverState(a.port), "up");

  // A token the proxy refuses: nothing changes, and the page asks for the token again.
  await page.evaluate(() =>
    sessionStorage.setItem("trunkline.admin.token", "wrong-token-wrong-token-wrong-to"),
  );
  await page.click(`${B} button.drain`);
  await page.waitForSelector("#login", { state: "visible", timeout: WAIT_MS });
  await seeText(page, "#msg", /refused the token/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("trunkline.admin.token")), null);
  assert.equal(await serverState(b.port), "up");

  assert.deepEqual(problems, []);
});
