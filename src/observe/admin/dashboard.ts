import { APP_CSS } from "./dashboard/css.ts";
import { FAVICON_SVG, INDEX_HTML } from "./dashboard/html.ts";
import { APP_JS } from "./dashboard/js-app.ts";
import { CLUSTER_JS } from "./dashboard/js-cluster.ts";
import { VIEW_JS } from "./dashboard/js-view.ts";
import type { StaticPage } from "./server.ts";

let pages: Map<string, StaticPage> | undefined;

/**
 * The dashboard served by the admin listener: `/`, `/app.js`, `/app.css`, `/favicon.svg`. The assets are TS
 * strings (dashboard/), so they are in dist/ after `tsc` and found without a path; the bodies
 * are built once and shared by every AdminServer the proxy starts (a moved admin address
 * makes a new one). The two halves of the script share one function scope and strict mode.
 */
export function dashboardPages(): Map<string, StaticPage> {
  pages ??= new Map([
    ["/", page("text/html; charset=utf-8", INDEX_HTML)],
    ["/app.css", page("text/css; charset=utf-8", APP_CSS)],
    ["/favicon.svg", page("image/svg+xml", FAVICON_SVG)],
    [
      "/app.js",
      page(
        "text/javascript; charset=utf-8",
        `(() => {\n"use strict";\n${VIEW_JS}\n${CLUSTER_JS}\n${APP_JS}\n})();\n`,
      ),
    ],
  ]);
  return pages;
}

function page(contentType: string, text: string): StaticPage {
  return { contentType, body: Buffer.from(text, "utf8") };
}
