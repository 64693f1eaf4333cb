// The share page in a real browser: headless Chromium (/usr/bin/chromium) driven by puppeteer-core against
// the compiled `kz server start`. kz share → open the link → Reveal → the value is on the page; a second
// open says "already opened"; an expired link; a wrong or cut-short fragment; a passphrase share; loading
// the page alone uses no view; nothing is requested outside the server's origin. One browser for the file;
// a screenshot lands in the test's temp dir when a test fails.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type HTTPRequest, type Page } from "puppeteer-core";
import { LOCAL_VALUE, parseLink, SHARED_VALUE, startShareWorld, type ShareWorld } from "./share-fixture.ts";

const CHROMIUM = process.env.KZ_TEST_CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available) console.warn(`share-page tests skipped: no Chromium at ${CHROMIUM} (scripts/test-deps.sh installs it)`);

// A browser start and a page load are slow on a shared 2-core machine; nothing here waits on a timer.
setDefaultTimeout(30_000);

let world: ShareWorld;
let browser: Browser;
let shotDir: string;
/** Every URL any page asked for, across the file, and whether it was the page itself (a navigation). */
const requested: { url: string; navigation: boolean }[] = [];
/** Every key this file handed to a page. */
const keys: string[] = [];
/** Console errors from every page (a CSP or Trusted Types violation shows up here). */
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!available) return;
  shotDir = mkdtempSync(join(tmpdir(), "kz-share-page-"));
  world = await startShareWorld();
  // --no-sandbox: Chromium refuses to run as root with its own sandbox (the test machines run as root).
  const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...args, "--disable-gpu", "--no-first-run"] });
});

afterAll(async () => {
  await browser?.close();
  await world?.stop();
});

/** A fresh page (own context: no shared state between tests); on failure, a screenshot in the temp dir. */
async function withPage(name: string, body: (page: Page) => Promise<void>): Promise<void> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on("console", (m) => void (m.type() === "error" && consoleErrors.push(m.text())));
  page.on("pageerror", (e) => void consoleErrors.push(String(e)));
  page.on("request", (r: HTTPRequest) => void requested.push({ url: r.url(), navigation: r.isNavigationRequest() }));
  try {
    await body(page);
  } catch (error) {
    const file = join(shotDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    console.error(`screenshot of the failing page: ${file}`);
    throw error;
  } finally {
    await context.close();
  }
}

async function share(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  const r = await world.share(args, opts);
  if (r.code !== 0) throw new Error(`kz share failed: ${r.stderr}`);
  const link = parseLink(r.stdout);
  keys.push(link.key);
  return link;
}

/** The DOM fields the tests read (the test files are type-checked without the DOM library). */
type Field = { value: string; disabled: boolean; hidden: boolean; readOnly: boolean };

const statusText = (page: Page) => page.$eval("#status", (e) => e.textContent ?? "");

async function waitForStatus(page: Page, pattern: RegExp): Promise<string> {
  await page.waitForFunction(`new RegExp(${JSON.stringify(pattern.source)}).test(document.getElementById("status").textContent)`, { timeout: 10_000 });
  return statusText(page);
}

async function viewsLeft(id: string): Promise<number | string> {
  const res = await fetch(`${world.server.url}/v1/shares/${id}`);
  if (res.status !== 200) return ((await res.json()) as { error: { code: string } }).error.code;
  return ((await res.json()) as { views_left: number }).views_left;
}

async function clickReveal(page: Page): Promise<void> {
  await page.waitForSelector("#reveal:not([disabled])", { timeout: 10_000 });
  await page.click("#reveal");
}

describe.skipIf(!available)("the share page in Chromium", () => {
  test("kz share → open the link → Reveal → the value; the key leaves the address bar; a second open says already opened", async () => {
    const { link, id } = await share(["DB_SHARED"]);
    await withPage("reveal", async (page) => {
      const response = await page.goto(link);
      const csp = response?.headers()["content-security-policy"] ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("connect-src 'self'");
      expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
      await page.waitForSelector("#reveal:not([disabled])");
      expect(await page.evaluate("location.hash")).toBe("");
      expect(await viewsLeft(id)).toBe(1); // loading the page used nothing
      await page.click("#reveal");
      await page.waitForFunction(`document.getElementById("value").value !== ""`, { timeout: 10_000 });
      expect(await page.$eval("#value", (e) => (e as unknown as Field).value)).toBe(SHARED_VALUE);
      expect(await page.$eval("#value", (e) => (e as unknown as Field).readOnly)).toBe(true);
      expect(await page.$eval("#status", (e) => e.getAttribute("aria-live"))).toBe("polite");
      expect(await statusText(page)).toContain("now used up");
      await page.click("#copy");
      expect(await waitForStatus(page, /Copied/)).toContain("Copied");
    });
    expect(await viewsLeft(id)).toBe("consumed");
    await withPage("second-open", async (page) => {
      await page.goto(link);
      expect(await waitForStatus(page, /already opened/)).toContain("already opened");
      expect(await page.$eval("#reveal", (e) => (e as unknown as Field).disabled)).toBe(true);
    });
  });

  test("loading the page (and a reload) never uses the view; keyboard alone reveals it", async () => {
    const { link, id } = await share(["LOCAL_ONE"]);
    await withPage("keyboard", async (page) => {
      await page.goto(link);
      await page.waitForSelector("#reveal:not([disabled])");
      await page.reload();
      // After the reload the fragment is gone (the page removed it): the link is needed again.
      expect(await waitForStatus(page, /incomplete or corrupted/)).toContain("incomplete or corrupted");
      expect(await viewsLeft(id)).toBe(1);
      await page.goto(link);
      await page.waitForSelector("#reveal:not([disabled])");
      await page.focus("#reveal");
      await page.keyboard.press("Enter");
      await page.waitForFunction(`document.getElementById("value").value !== ""`, { timeout: 10_000 });
      expect(await page.$eval("#value", (e) => (e as unknown as Field).value)).toBe(LOCAL_VALUE);
    });
  });

  test("an expired link says so, before any click", async () => {
    const { link, id } = await share(["LOCAL_ONE"]);
    world.expire(id);
    await withPage("expired", async (page) => {
      await page.goto(link);
      expect(await waitForStatus(page, /expired/)).toContain("expired before it was opened");
    });
  });

  test("a cut-short fragment: 'incomplete or corrupted', and no view is used", async () => {
    const { page: url, key, id } = await share(["LOCAL_ONE"]);
    await withPage("short-key", async (page) => {
      await page.goto(`${url}#${key.slice(0, 30)}`);
      expect(await waitForStatus(page, /incomplete or corrupted/)).toContain("incomplete or corrupted");
      expect(await page.$eval("#reveal", (e) => (e as unknown as Field).disabled)).toBe(true);
      await page.goto(url); // no fragment at all
      expect(await waitForStatus(page, /incomplete or corrupted/)).toContain("incomplete or corrupted");
    });
    expect(await viewsLeft(id)).toBe(1);
  });

  test("a well-formed key of another share: 'does not belong', never the value", async () => {
    const { page: url } = await share(["LOCAL_ONE"]);
    const other = await share(["LOCAL_ONE"]);
    await withPage("wrong-key", async (page) => {
      await page.goto(`${url}#${other.key}`);
      await clickReveal(page);
      expect(await waitForStatus(page, /does not belong/)).toContain("does not belong to this secret");
      expect(await page.$eval("#value", (e) => (e as unknown as Field).value)).toBe("");
      expect(await page.$eval("#result", (e) => (e as unknown as Field).hidden)).toBe(true);
    });
  });

  test("a passphrase share: the field shows first; a wrong passphrase is named as such and can be retried", async () => {
    const { link } = await share(["-", "--passphrase"], { stdin: "page-two-factor-value", env: { KZ_SHARE_PASSPHRASE: "correct horse" } });
    await withPage("passphrase", async (page) => {
      await page.goto(link);
      await page.waitForSelector("#passphrase-row:not([hidden])");
      expect(await page.$eval("label[for=passphrase]", (e) => e.textContent)).toBe("Passphrase");
      await page.type("#passphrase", "wrong horse");
      await clickReveal(page);
      expect(await waitForStatus(page, /Wrong passphrase/)).toContain("Wrong passphrase");
      await page.$eval("#passphrase", (e) => void ((e as unknown as Field).value = ""));
      await page.type("#passphrase", "correct horse");
      await clickReveal(page);
      await page.waitForFunction(`document.getElementById("value").value !== ""`, { timeout: 20_000 });
      expect(await page.$eval("#value", (e) => (e as unknown as Field).value)).toBe("page-two-factor-value");
    });
  });

  test("an unknown link says so", async () => {
    await withPage("unknown", async (page) => {
      await page.goto(`${world.server.url}/s/AAAAAAAAAAAAAAAAAAAAAA#${"A".repeat(43)}`);
      expect(await waitForStatus(page, /unknown/)).toContain("This link is unknown");
    });
  });

  test("no request from any page left the server's origin, and the key reached the server in none", () => {
    const origin = new URL(world.server.url).origin;
    expect(requested.length).toBeGreaterThan(10);
    const elsewhere = requested.filter(({ url }) => !url.startsWith("data:") && new URL(url).origin !== origin);
    expect(elsewhere).toEqual([]);
    // Puppeteer shows a navigation with its fragment, which the browser never sends; every other request
    // (assets, status, open) must carry no fragment and no key at all.
    const carrying = requested.filter(({ url, navigation }) => !navigation && (url.includes("#") || keys.some((k) => url.includes(k.slice(0, 20)))));
    expect(carrying).toEqual([]);
    // The page works under its own CSP: no violation, no script error (failed loads of 404/410 answers aside).
    expect(consoleErrors.filter((m) => !/Failed to load resource/.test(m))).toEqual([]);
    const stored = world.everythingStored();
    expect(keys.filter((k) => stored.includes(k))).toEqual([]);
  });
});
