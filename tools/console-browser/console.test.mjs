// The operator console in a real browser (Debian's Chromium through playwright-core): sign in,
// a wrong token refused, a dead delivery made by a failing provider found, redriven after a dry
// run and then sent; every page at 1280 and 768 px wide without horizontal scroll or overlapping
// controls, and reachable from the keyboard. Screenshots go to target/console-screenshots/.
//
//   GATEWAY_BIN=target/debug/open-cowork-gateway node --test console.test.mjs

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const TOKEN = "browser-console-token-0123456789abcdef";
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(ROOT, process.env.GATEWAY_BIN ?? "target/debug/open-cowork-gateway");
const SHOTS = join(ROOT, "target", "console-screenshots");
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const DEADLINE_MS = 60_000;

let gateway;
let base;
let browser;
let dataDir;

/// Polls `probe` until it returns something truthy, failing with `what` at the deadline.
async function until(what, probe) {
  const started = Date.now();
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() - started > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function admin(path) {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return response.json();
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "console-browser-"));
  // The first send is refused for good (HTTP 400): the reply's messages die, to be redriven.
  const providers = JSON.stringify([
    { id: "fake", kind: "fake", settings: { failFirstSends: 1, failStatus: 400 } },
  ]);
  gateway = spawn(BIN, ["standalone", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    env: {
      PATH: process.env.PATH,
      OPEN_COWORK_GATEWAY_ADMIN_TOKEN: TOKEN,
      OPEN_COWORK_GATEWAY_PROVIDERS: providers,
      OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS: "5",
      OPEN_COWORK_GATEWAY_LOG_LEVEL: "error",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  base = await new Promise((resolveBase, reject) => {
    let seen = "";
    gateway.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/\S+)/);
      if (match) resolveBase(match[1]);
    });
    gateway.on("exit", (code) => reject(new Error(`the gateway exited (${code}) before its banner`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  gateway?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/// Nothing wider than the window, no two visible controls on top of each other, and Tab
/// reaches the page's links and buttons.
async function checkLayout(page, name, width) {
  const layout = await page.evaluate(() => {
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? r : null;
    };
    const controls = [...document.querySelectorAll("a, button, input, select, label, h1, h2, th, td")]
      .map((el) => ({ el, r: visible(el) }))
      .filter((c) => c.r);
    const overlaps = [];
    for (let i = 0; i < controls.length; i++) {
      for (let j = i + 1; j < controls.length; j++) {
        const a = controls[i], b = controls[j];
        if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
        const x = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
        const y = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
        if (x > 1 && y > 1) overlaps.push(`${a.el.tagName} "${a.el.textContent.trim().slice(0, 20)}" / ${b.el.tagName} "${b.el.textContent.trim().slice(0, 20)}"`);
      }
    }
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      overlaps,
    };
  });
  assert.ok(layout.scrollWidth <= layout.innerWidth, `${name} at ${width}px scrolls sideways (${layout.scrollWidth} > ${layout.innerWidth})`);
  assert.deepEqual(layout.overlaps, [], `${name} at ${width}px has overlapping controls`);
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.tagName);
  assert.ok(["A", "BUTTON", "INPUT", "SELECT"].includes(focused), `${name}: Tab reaches ${focused}`);
  await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
}

test("an operator signs in, finds dead deliveries, redrives them after a dry run, and they are sent", async () => {
  const response = await fetch(`${base}/webhooks/fake`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: "m1", chatId: "browser <chat>", text: "hello from the browser test" }),
  });
  assert.equal(response.status, 202);
  // The send dies, then the edits of the message it never created; wait until nothing is open.
  await until("dead deliveries, nothing open", async () => {
    const dead = (await admin("/deliveries?status=dead")).deliveries.length;
    const open = ["pending", "claimed", "failed"];
    let openCount = 0;
    for (const state of open) openCount += (await admin(`/deliveries?status=${state}`)).deliveries.length;
    return dead > 0 && openCount === 0 ? dead : 0;
  });
  const deadCount = (await admin("/deliveries?status=dead")).deliveries.length;

  for (const width of [1280, 768]) {
    const context = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${base}/console`);
    await checkLayout(page, "sign-in", width);
    // A wrong token is refused.
    await page.fill("input[name=token]", "not-the-token");
    await page.click("button[type=submit]");
    await page.waitForSelector("text=That is not the admin token.");
    // The right one signs in (the cookie is Secure: Chromium keeps it on this machine's address).
    await page.fill("input[name=token]", TOKEN);
    await Promise.all([page.waitForURL(`${base}/console`), page.click("button[type=submit]")]);
    await page.waitForSelector("h1:text('Bindings')");
    assert.ok((await page.content()).includes("<code>fake</code>"), "the binding is listed");
    await checkLayout(page, "bindings", width);
    // At 1280 the dead ones; at 768 (after the redrive) every delivery, so a full table is laid out.
    await page.goto(`${base}/console/deliveries${width === 1280 ? "?state=dead" : ""}`);
    const rows = await page.locator("tbody tr").count();
    if (width === 1280) assert.equal(rows, deadCount);
    else assert.ok(rows >= deadCount, "every delivery is listed");
    await checkLayout(page, "deliveries", width);
    await page.goto(`${base}/console/deliveries/1`);
    await page.waitForSelector("text=Attempts");
    await checkLayout(page, "delivery", width);
    await page.goto(`${base}/console/redrive`);
    await checkLayout(page, "redrive", width);
    if (width === 1280) {
      // The dry run first: it lists, and changes nothing.
      await page.selectOption("select[name=state]", "dead");
      await page.click("button:text('Preview')");
      await page.waitForSelector(`text=${deadCount} deliveries would go out again`);
      assert.equal((await admin("/deliveries?status=dead")).deliveries.length, deadCount);
      await checkLayout(page, "redrive-preview", width);
      await page.click(`button:text('Redrive these ${deadCount}')`);
      await page.waitForSelector(`text=${deadCount} deliveries go out again now.`);
      await until("the redriven deliveries sent", async () => (await admin("/deliveries?status=dead")).deliveries.length === 0 && (await admin("/deliveries?status=pending")).deliveries.length === 0);
      await page.goto(`${base}/console/deliveries?state=sent`);
      assert.ok((await page.locator("tbody tr").count()) >= 1, "the redriven deliveries are listed as sent");
      // The chat id came from outside: shown as text, not markup.
      assert.ok((await page.content()).includes("browser &lt;chat&gt;"));
    }
    await context.close();
  }
});
