// Debian's Chromium (scripts/ensure-test-peers.sh installs it; playwright-core downloads no
// browser) for the dashboard's browser tests: a fresh profile each time, so nothing from an
// earlier run (storage, cache) is seen.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];

/**
 * A headless Chromium context on a fresh profile; its close and the profile's removal go
 * into `cleanup`. launch() refuses --user-data-dir (Playwright owns it): a persistent
 * context takes the dir.
 */
export async function freshBrowser(
  cleanup: (() => Promise<void> | void)[],
  more: { args?: readonly string[]; viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), "tl-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...(more.args ?? [])],
    ...(more.viewport ? { viewport: more.viewport } : {}),
    timeout: 30_000,
  });
  cleanup.push(() => rmSync(profile, { recursive: true, force: true }));
  cleanup.push(() => ctx.close());
  return ctx;
}
