// The share page and its assets, embedded in the binary at build: the static HTML (GET /s/<id>), its CSS,
// its script, and src/share/envelope.ts transpiled to JavaScript for the browser (src/web/envelope-js.ts) — so the page decrypts
// with the very code the CLI encrypts with. Plus the headers every share response carries (strict CSP,
// no referrer, no caching, no framing).

import { envelopeBrowserJs } from "../web/envelope-js.ts" with { type: "macro" };
import * as pageText from "../web/share.html" with { type: "text" };
import * as cssText from "../web/share.css" with { type: "text" };
import * as scriptText from "../web/share.js" with { type: "text" };

const text = (module: unknown): string => (module as { default: string }).default;

/** The page's policy: only its own scripts, styles and API calls; no framing, forms, base or plugins. */
export const SHARE_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "require-trusted-types-for 'script'",
].join("; ");

/** Headers on every share response (the page, its assets, the API's share endpoints). */
export const SHARE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": SHARE_PAGE_CSP,
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
  "X-Robots-Tag": "noindex, nofollow",
};

export interface Asset {
  body: string;
  type: string;
}

let assets: Map<string, Asset> | undefined;

/** The page's files by name (the envelope was transpiled when kz was built). */
function loadAssets(): Map<string, Asset> {
  if (assets) return assets;
  const envelopeJs: string = envelopeBrowserJs();
  assets = new Map([
    ["share.css", { body: text(cssText), type: "text/css; charset=utf-8" }],
    ["share.js", { body: text(scriptText), type: "text/javascript; charset=utf-8" }],
    ["envelope.js", { body: envelopeJs, type: "text/javascript; charset=utf-8" }],
  ]);
  return assets;
}

export function sharePage(): Response {
  return new Response(text(pageText), { headers: { ...SHARE_HEADERS, "Content-Type": "text/html; charset=utf-8" } });
}

export function shareAsset(name: string): Response | undefined {
  const asset = loadAssets().get(name);
  if (!asset) return undefined;
  return new Response(asset.body, { headers: { ...SHARE_HEADERS, "Content-Type": asset.type } });
}
