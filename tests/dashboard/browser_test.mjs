// The dashboard in a real browser: Debian's chromium, driven by playwright-core, against a
// real `liverec serve` on 127.0.0.1 fed with a little generated data.
//
// Usage: node tests/dashboard/browser_test.mjs path/to/liverec SCREENSHOT_DIR
//
// The live page must show the figures of /v1/stats (each card, each model's Recall@K and
// NDCG@K, the ensemble's weights, the latency percentiles, the charts' last values); the user,
// item, snapshot and experiment pages must show what their JSON routes answer, and a snapshot
// and a rollback made from the page must happen. Waits are on the page (an element, the count
// of stream events it received), never on time. Each page is saved as a PNG in SCREENSHOT_DIR
// (CI keeps them).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";

import { chromium } from "playwright-core";

import { startServer } from "../contract/server.mjs";

const [binary, shots] = process.argv.slice(2);
if (!binary || !shots) throw new Error("usage: browser_test.mjs path/to/liverec SCREENSHOT_DIR");
mkdirSync(shots, { recursive: true });

// Debian's build; never a downloaded one.
const kChromium = "/usr/bin/chromium";
const kLaunchArgs = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
// Stream events the live page may take to show settled figures: the live evaluation of the
// last events can finish after ?wait=learned answered.
const kMaxUpdates = 15;
const kStartMs = 1_700_000_000_000;
// Stream events during which the test sends traffic, so the charts have something to show.
const kTrafficRounds = 4;

// The page's rule (ui/src/app.ts, formatValue).
function formatValue(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

async function json(server, path, init = {}) {
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  assert.ok(response.ok, `${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

// 40 users over 30 items in a few taste groups, in time order (`part` later for each part).
function generatedEvents(part = 0) {
  const events = [];
  let t = kStartMs + part * 1_000_000;
  for (let round = 0; round < 6; ++round) {
    for (let u = 0; u < 40; ++u) {
      const item = (u % 5) * 6 + ((round + u) % 6);
      events.push({ user: `u${u}`, item: `i${item}`, timestamp: (t += 1000) });
    }
  }
  return events;
}

// What the live page shows: every element with data-value, by a key of its place.
async function shownFigures(page) {
  return page.evaluate(() => {
    const out = {};
    for (const card of document.querySelectorAll("[data-stat]")) {
      const v = card.querySelector("[data-value]");
      out[`card:${card.dataset.stat}`] = [v.dataset.value, v.textContent];
    }
    for (const row of document.querySelectorAll("#models tr[data-model]")) {
      for (const cell of row.querySelectorAll("[data-field]")) {
        out[`model:${row.dataset.model}:${cell.dataset.field}`] = [cell.dataset.value, cell.textContent];
      }
    }
    for (const row of document.querySelectorAll("#members tr[data-member]")) {
      for (const cell of row.querySelectorAll("[data-segment]")) {
        out[`member:${row.dataset.member}:${cell.dataset.segment}`] = [cell.dataset.value, cell.textContent];
      }
    }
    for (const row of document.querySelectorAll("#latency tr[data-route]")) {
      for (const cell of row.querySelectorAll("[data-field]")) {
        out[`latency:${row.dataset.route}:${cell.dataset.field}`] = [cell.dataset.value, cell.textContent];
      }
    }
    for (const chart of document.querySelectorAll("[data-chart]")) {
      out[`chart:${chart.dataset.chart}`] = [
        String(chart.querySelectorAll("polyline").length),
        [...chart.querySelectorAll(".legend span")].map((s) => s.textContent).join(" | "),
      ];
    }
    return out;
  });
}

// The same keys from a /v1/stats answer.
function expectedFigures(stats) {
  const out = {};
  const shown = (v) => [String(v), formatValue(v)];
  for (const f of ["events_accepted", "events_applied", "events_rejected", "queue_depth", "num_users",
    "num_items", "last_applied_seq", "snapshot_seq"]) {
    out[`card:${f}`] = shown(stats[f]);
  }
  out["card:learning_lag"] = shown(stats.last_durable_seq - stats.last_applied_seq);
  for (const m of stats.models) {
    for (const f of ["evaluated", "recall", "ndcg"]) out[`model:${m.name}:${f}`] = shown(m[f]);
    for (const member of m.members ?? []) {
      member.weights.forEach((w, s) => (out[`member:${m.name}/${member.name}:${s}`] = shown(w)));
    }
  }
  for (const l of stats.http.latency) {
    for (const f of ["count", "p50_ms", "p90_ms", "p99_ms", "max_ms"]) out[`latency:${l.route}:${f}`] = shown(l[f]);
  }
  // Nothing is ingested while the page is compared: both rates are 0.
  out["chart:rates"] = ["2", "in 0.0 | learned 0.0"];
  out["chart:queue"] = ["2", `queue depth ${formatValue(stats.queue_depth)} | lag ${formatValue(stats.last_durable_seq - stats.last_applied_seq)}`];
  const legend = (pairs) => pairs.map(([name, v]) => `${name} ${formatValue(v)}`).join(" | ");
  out["chart:recall"] = [String(stats.models.length), legend(stats.models.map((m) => [m.name, m.recall]))];
  out["chart:ndcg"] = [String(stats.models.length), legend(stats.models.map((m) => [m.name, m.ndcg]))];
  const members = stats.models.flatMap((m) => (m.members ?? []).map((x) => [x.name, x.weights[0]]));
  if (members.length > 0) out["chart:weights"] = [String(members.length), legend(members)];
  const rec = stats.http.latency.find((l) => l.route === "recommendations");
  const ms = (v) => (Number.isFinite(v) ? v.toFixed(3) : "–");
  out["chart:latency"] = ["3", `p50 ${ms(rec.p50_ms)} | p90 ${ms(rec.p90_ms)} | p99 ${ms(rec.p99_ms)}`];
  return out;
}

test("the dashboard shows the server's figures and its pages work", async () => {
  const server = await startServer(binary, ["--set", "metrics.sample_rate=1"]);
  const profile = mkdtempSync(join(tmpdir(), "liverec-chromium-"));
  let context;
  try {
    const events = generatedEvents();
    const ingest = await json(server, "/v1/events?wait=learned", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(events),
    });
    assert.equal(ingest.accepted, events.length);
    await json(server, "/v1/experiments/e1", {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ arms: [{ name: "control", model: "ensemble", share: 0.5 }, { name: "pop", model: "popularity", share: 0.5 }] }),
    });
    await json(server, "/v1/items/i0", {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ categories: ["news", "sport"], tags: ["a"], text: "first item", properties: { price: 9.5 } }),
    });
    for (let u = 0; u < 20; ++u) await json(server, `/v1/recommendations?user=u${u}&k=5`);
    await json(server, "/v1/admin/snapshot", { method: "POST" });

    context = await chromium.launchPersistentContext(profile, {
      executablePath: kChromium, headless: true, args: kLaunchArgs, viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("dialog", (dialog) => dialog.accept());

    // Live: traffic while the page watches (a batch of events and a few lists per stream
    // event), then the figures of the stream's last event equal /v1/stats at some event.
    await page.goto(`${server.url}/#/live`);
    for (let round = 1; round <= kTrafficRounds; ++round) {
      await page.waitForFunction((n) => Number(document.body.dataset.updates ?? 0) >= n, round);
      const batch = generatedEvents(round).slice(0, 60 * round);
      await json(server, "/v1/events?wait=learned", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(batch),
      });
      for (let u = 0; u < 10; ++u) await json(server, `/v1/recommendations?user=u${u}&k=5`);
    }
    let shown = {};
    let expected = {};
    for (let update = kTrafficRounds + 1; update <= kTrafficRounds + kMaxUpdates; ++update) {
      await page.waitForFunction((n) => Number(document.body.dataset.updates ?? 0) >= n, update);
      expected = expectedFigures(await json(server, "/v1/stats"));
      shown = await shownFigures(page);
      if (update >= 2 && JSON.stringify(shown) === JSON.stringify(expected)) break;
    }
    assert.deepEqual(shown, expected);
    assert.equal(await page.locator("#stream-state").textContent(), "live");
    assert.ok(Number(shown["card:events_accepted"][0]) > events.length);
    await page.screenshot({ path: join(shots, "live.png"), fullPage: true });

    // User: history and recommendations with explanations, as the routes give them.
    await page.goto(`${server.url}/#/user/u3`);
    await page.locator("#recommendations tbody tr").first().waitFor();
    const user = await json(server, "/v1/users/u3?limit=50");
    const historyItems = await page.locator("#history tbody tr td:first-child").allTextContents();
    assert.deepEqual(historyItems, user.recent.map((r) => r.item));
    const recommended = await page.locator("#recommendations tbody tr").count();
    assert.equal(recommended, (await json(server, "/v1/recommendations?user=u3&k=10&explain=true")).items.length);
    await page.screenshot({ path: join(shots, "user.png"), fullPage: true });

    // Item: its metadata as GET /v1/items/{id} gives it, and similar items in the route's order.
    await page.goto(`${server.url}/#/item/i0`);
    await page.locator("#item-metadata tbody tr").first().waitFor();
    const item = await json(server, "/v1/items/i0");
    const field = async (name) => page.locator(`#item-metadata tr[data-field="${name}"] td:nth-child(2)`).textContent();
    assert.equal(await field("categories"), item.metadata.categories.join(", "));
    assert.equal(await field("text"), item.metadata.text);
    assert.equal(await field("price"), String(item.metadata.properties.price));
    assert.equal(await field("recommendable"), item.recommendable ? "yes" : "no");
    await page.locator("#similar tbody tr").first().waitFor();
    const similar = await json(server, "/v1/items/i0/similar?k=10");
    assert.deepEqual(await page.locator("#similar tbody tr td:first-child").allTextContents(),
      similar.items.map((r) => r.item));
    await page.screenshot({ path: join(shots, "item.png"), fullPage: true });

    // Snapshots: one taken from the page, then a rollback to the oldest, both through the page.
    await page.goto(`${server.url}/#/snapshots`);
    await page.locator("#snapshots tbody tr").first().waitFor();
    await page.click("#take-snapshot");
    await page.locator("#snapshot-message").waitFor();
    assert.match(await page.locator("#snapshot-message").textContent(), /^snapshot written at seq \d+$/);
    const { snapshots } = await json(server, "/v1/admin/snapshots");
    await page.locator(`#snapshots tr[data-seq="${snapshots[0].seq}"]`).waitFor();
    assert.deepEqual(await page.locator("#snapshots tbody tr td:first-child").allTextContents(),
      snapshots.map((s) => String(s.seq)));
    const oldest = snapshots[snapshots.length - 1].seq;
    await page.click(`[data-rollback="${oldest}"]`);
    await page.locator("#snapshot-message", { hasText: `rolled back to seq ${oldest}` }).waitFor();
    await page.screenshot({ path: join(shots, "snapshots.png"), fullPage: true });

    // Experiments: arms with their figures and intervals, and the alarm line.
    await page.goto(`${server.url}/#/experiments`);
    await page.locator('[data-experiment="e1"] [data-alarms]').waitFor();
    const { experiments } = await json(server, "/v1/experiments");
    const e1 = experiments.find((x) => x.name === "e1");
    assert.deepEqual(await page.locator('[data-experiment="e1"] tr[data-arm] td:first-child').allTextContents(),
      e1.arms.map((a) => a.name));
    assert.deepEqual(await page.locator('[data-experiment="e1"] tr[data-arm] td:nth-child(4)').allTextContents(),
      e1.arms.map((a) => String(a.users)));
    await page.screenshot({ path: join(shots, "experiments.png"), fullPage: true });

    assert.deepEqual(pageErrors, []);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
});

test("with keys, the page reads the stream with the pasted key, never in a URL", async () => {
  const server = await startServer(binary);
  const profile = mkdtempSync(join(tmpdir(), "liverec-chromium-"));
  let context;
  try {
    // The server reads the key file again when it changes: keys made now apply at once.
    const added = execFileSync(binary, ["keys", "add", "--data-dir", server.dataDir, "--role", "read"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const key = added.trim();  // the key alone on stdout
    const unauthorized = await fetch(`${server.url}/v1/stats/stream`);
    assert.equal(unauthorized.status, 401);

    context = await chromium.launchPersistentContext(profile, {
      executablePath: kChromium, headless: true, args: kLaunchArgs, viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const urls = [];
    page.on("request", (request) => urls.push(request.url()));
    await page.goto(`${server.url}/`);
    await page.locator("#stream-state", { hasText: "401" }).waitFor();
    await page.fill("#key", key);
    await page.click("#key-form button");
    await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1);
    assert.equal(await page.locator("#stream-state").textContent(), "live");
    // A read key cannot list snapshots: the page says what the server said.
    await page.goto(`${server.url}/#/snapshots`);
    await page.locator("#snapshots-page .error").waitFor();
    assert.match(await page.locator("#snapshots-page .error").textContent(), /^403: /);
    await page.screenshot({ path: join(shots, "keys.png"), fullPage: true });
    assert.ok(urls.length > 0);
    assert.deepEqual(urls.filter((u) => u.includes(key)), []);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
});
