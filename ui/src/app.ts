// The dashboard: a live page fed by GET /v1/stats/stream, and pages over the JSON routes for
// a user, an item, the snapshots and the experiments (docs/http_api.md). Pages are chosen by
// the URL's hash (#/user/ann), so every view has a link.
import { api, apiKey, followStats, setApiKey, StreamState } from "./api";
import { drawChart, Series } from "./chart";

// Stream events kept for the charts: two minutes at one a second.
const kHistory = 120;

interface Member {
  name: string;
  type: string;
  weights: number[];
}
interface ModelStats {
  name: string;
  type: string;
  evaluated: number;
  recall: number | null;
  ndcg: number | null;
  members?: Member[];
}
interface Latency {
  route: string;
  count: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}
interface Stats {
  events_accepted: number;
  events_applied: number;
  events_rejected: number;
  num_users: number;
  num_items: number;
  queue_depth: number;
  queue_capacity: number;
  last_durable_seq: number;
  last_applied_seq: number;
  snapshot_seq: number;
  metrics_k: number;
  default_model: string;
  models: ModelStats[];
  http?: { streams_open: number; max_streams: number; latency: Latency[] };
}
interface Sample {
  at_ms: number;
  stats: Stats;
}

const history: Sample[] = [];
let streamUpdates = 0;

// ---- small DOM helpers ----

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// Integers as they are; other numbers with four decimals; null (a figure not yet known) as "–".
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

// A table cell showing `v`; data-value keeps the exact figure the server sent.
function numberCell(v: number | null, attrs: Record<string, string> = {}): HTMLTableCellElement {
  return el("td", { ...attrs, "data-value": String(v) }, formatValue(v));
}

// A table with one header cell per name of `head`; the last one spans the rows' extra cells.
function table(head: string[], rows: HTMLTableRowElement[], attrs: Record<string, string> = {}): HTMLTableElement {
  const widest = Math.max(head.length, ...rows.map((r) => r.cells.length));
  const cells = head.map((h, i) => el("th", i === head.length - 1 ? { colspan: String(widest - i) } : {}, h));
  return el("table", attrs, el("thead", {}, el("tr", {}, ...cells)), el("tbody", {}, ...rows));
}

function link(hash: string, text: string): HTMLAnchorElement {
  return el("a", { href: hash }, text);
}

function errorLine(e: unknown): HTMLElement {
  return el("p", { class: "error" }, e instanceof Error ? e.message : String(e));
}

const main = document.getElementById("main") as HTMLElement;

// ---- the live page ----

const kCards: [keyof Stats, string][] = [
  ["events_accepted", "events accepted"],
  ["events_applied", "events learned"],
  ["events_rejected", "events rejected"],
  ["queue_depth", "queue depth"],
  ["num_users", "users"],
  ["num_items", "items"],
  ["last_applied_seq", "model version"],
  ["snapshot_seq", "newest snapshot"],
];

// Per second between the last two samples of `field`.
function rates(field: "events_accepted" | "events_applied"): number[] {
  const out: number[] = [];
  for (let i = 1; i < history.length; ++i) {
    const dt = (history[i].at_ms - history[i - 1].at_ms) / 1000;
    out.push(dt > 0 ? Math.max(0, history[i].stats[field] - history[i - 1].stats[field]) / dt : 0);
  }
  return out;
}

function seriesOf(name: string, pick: (s: Stats) => number | null | undefined): Series {
  return { name, values: history.map((h) => pick(h.stats) ?? NaN) };
}

function renderLive(): void {
  const last = history.length > 0 ? history[history.length - 1].stats : null;
  const root = el("div", { id: "live", "data-updates": String(streamUpdates) });
  if (last === null) {
    root.append(el("p", { class: "muted" }, "waiting for the first figures of the stats stream"));
    main.replaceChildren(root);
    return;
  }
  const cards = el("div", { class: "cards" });
  for (const [field, label] of kCards) {
    const value = last[field] as number;
    cards.append(
      el(
        "div",
        { class: "card", "data-stat": field },
        el("div", { class: "label" }, label),
        el("div", { class: "value", "data-value": String(value) }, formatValue(value)),
      ),
    );
  }
  const lag = last.last_durable_seq - last.last_applied_seq;
  cards.append(
    el(
      "div",
      { class: "card", "data-stat": "learning_lag" },
      el("div", { class: "label" }, "learning lag (log records)"),
      el("div", { class: "value", "data-value": String(lag) }, formatValue(lag)),
    ),
  );

  const charts = el("div", { class: "charts" });
  const chart = (title: string, id: string, series: Series[], format: (v: number) => string = formatValue): void => {
    const box = el("div");
    drawChart(box, series, format);
    charts.append(el("div", { class: "chart", "data-chart": id }, el("h3", {}, title), box));
  };
  const oneDecimal = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : "–");
  chart("Events per second", "rates", [
    { name: "in", values: rates("events_accepted") },
    { name: "learned", values: rates("events_applied") },
  ], oneDecimal);
  chart("Queue depth and learning lag", "queue", [
    seriesOf("queue depth", (s) => s.queue_depth),
    seriesOf("lag", (s) => s.last_durable_seq - s.last_applied_seq),
  ]);
  const k = last.metrics_k;
  chart(`Live Recall@${k}`, "recall", last.models.map((m) => seriesOf(m.name, (s) => s.models.find((x) => x.name === m.name)?.recall)));
  chart(`Live NDCG@${k}`, "ndcg", last.models.map((m) => seriesOf(m.name, (s) => s.models.find((x) => x.name === m.name)?.ndcg)));
  const weights: Series[] = [];
  for (const m of last.models) {
    for (const member of m.members ?? []) {
      weights.push(seriesOf(`${member.name}`, (s) => s.models.find((x) => x.name === m.name)?.members?.find((y) => y.name === member.name)?.weights[0]));
    }
  }
  if (weights.length > 0) chart("Ensemble weights (segment 0)", "weights", weights);
  const latency = (route: string, field: keyof Latency) => (s: Stats) =>
    s.http?.latency.find((l) => l.route === route)?.[field] as number | undefined;
  chart("Recommendation latency (ms, last 1024)", "latency", [
    seriesOf("p50", latency("recommendations", "p50_ms")),
    seriesOf("p90", latency("recommendations", "p90_ms")),
    seriesOf("p99", latency("recommendations", "p99_ms")),
  ], (v) => (Number.isFinite(v) ? v.toFixed(3) : "–"));

  const modelRows = last.models.map((m) =>
    el(
      "tr",
      { "data-model": m.name },
      el("td", {}, m.name),
      el("td", {}, m.type),
      numberCell(m.evaluated, { "data-field": "evaluated" }),
      numberCell(m.recall, { "data-field": "recall" }),
      numberCell(m.ndcg, { "data-field": "ndcg" }),
    ),
  );
  const memberRows: HTMLTableRowElement[] = [];
  for (const m of last.models) {
    for (const member of m.members ?? []) {
      memberRows.push(
        el(
          "tr",
          { "data-member": `${m.name}/${member.name}` },
          el("td", {}, m.name),
          el("td", {}, member.name),
          ...member.weights.map((w, s) => numberCell(w, { "data-segment": String(s) })),
        ),
      );
    }
  }
  const latencyRows = (last.http?.latency ?? []).map((l) =>
    el(
      "tr",
      { "data-route": l.route },
      el("td", {}, l.route),
      numberCell(l.count, { "data-field": "count" }),
      numberCell(l.p50_ms, { "data-field": "p50_ms" }),
      numberCell(l.p90_ms, { "data-field": "p90_ms" }),
      numberCell(l.p99_ms, { "data-field": "p99_ms" }),
      numberCell(l.max_ms, { "data-field": "max_ms" }),
    ),
  );
  root.append(
    cards,
    charts,
    el("section", {}, el("h2", {}, `Models (live test-then-train at K=${k}; default ${last.default_model})`),
      table(["model", "type", "evaluated", `Recall@${k}`, `NDCG@${k}`], modelRows, { id: "models" })),
  );
  if (memberRows.length > 0) {
    root.append(el("section", {}, el("h2", {}, "Ensemble weights by segment"),
      table(["model", "member", "weights"], memberRows, { id: "members" })));
  }
  root.append(el("section", {}, el("h2", {}, "Request latency (ms, last 1024 requests per route)"),
    table(["route", "count", "p50", "p90", "p99", "max"], latencyRows, { id: "latency" })));
  main.replaceChildren(root);
}

// ---- the user, item, snapshot and experiment pages ----

interface UserInfo {
  user: string;
  num_events: number;
  recent: { item: string; timestamp: number }[];
  metadata: { attributes: Record<string, string> };
}
interface Recommendations {
  recommendation_id: string;
  model: string;
  fallback: boolean;
  model_version: number;
  items: { item: string; score: number; because?: string[]; features?: string[] }[];
}

function lookupForm(kind: string, value: string): HTMLFormElement {
  const input = el("input", { name: kind, placeholder: `${kind} id`, value });
  const form = el("form", { class: "lookup", id: `${kind}-lookup` }, input, el("button", { type: "submit" }, "Look up"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/${kind}/${encodeURIComponent(input.value.trim())}`;
  });
  return form;
}

async function renderUser(id: string): Promise<void> {
  const root = el("div", { id: "user-page" }, lookupForm("user", id));
  main.replaceChildren(root);
  if (!id) return;
  const path = encodeURIComponent(id);
  try {
    const [user, recs] = await Promise.all([
      api<UserInfo>(`/v1/users/${path}?limit=50`),
      api<Recommendations>(`/v1/recommendations?user=${path}&k=10&explain=true`),
    ]);
    const attributes = Object.entries(user.metadata.attributes).map(([n, v]) => `${n}=${v}`).join(", ");
    root.append(
      el("section", { id: "history" }, el("h2", {}, `History of ${user.user} (${user.num_events} events)`),
        attributes ? el("p", {}, `attributes: ${attributes}`) : "",
        table(["item", "time"], user.recent.map((r) =>
          el("tr", {}, el("td", {}, link(`#/item/${encodeURIComponent(r.item)}`, r.item)),
            el("td", {}, new Date(r.timestamp).toISOString())))),
      ),
      el("section", { id: "recommendations" },
        el("h2", {}, `Recommendations from ${recs.model}${recs.fallback ? " (fallback)" : ""}, model version ${recs.model_version}`),
        table(["item", "score", "because", "features"], recs.items.map((r) =>
          el("tr", { "data-item": r.item },
            el("td", {}, link(`#/item/${encodeURIComponent(r.item)}`, r.item)),
            numberCell(r.score),
            el("td", {}, (r.because ?? []).join(", ")),
            el("td", {}, (r.features ?? []).join(", "))))),
      ),
    );
  } catch (e) {
    root.append(errorLine(e));
  }
}

interface ItemInfo {
  item: string;
  recommendable: boolean;
  metadata: null | {
    categories: string[];
    tags: string[];
    text: string;
    properties: Record<string, number | null>;
    available: boolean;
  };
}

async function renderItem(id: string): Promise<void> {
  const root = el("div", { id: "item-page" }, lookupForm("item", id));
  main.replaceChildren(root);
  if (!id) return;
  try {
    const item = await api<ItemInfo>(`/v1/items/${encodeURIComponent(id)}`);
    const meta = item.metadata;
    const rows: [string, string][] = [["recommendable", item.recommendable ? "yes" : "no"]];
    if (meta) {
      rows.push(["categories", meta.categories.join(", ")], ["tags", meta.tags.join(", ")],
        ["text", meta.text], ["available", meta.available ? "yes" : "no"]);
      for (const [name, value] of Object.entries(meta.properties)) rows.push([name, String(value)]);
    }
    root.append(el("section", { id: "item-metadata" },
      el("h2", {}, meta ? `Item ${item.item}` : `Item ${item.item} (no metadata was put)`),
      table(["field", "value"], rows.map(([k, v]) =>
        el("tr", { "data-field": k }, el("td", {}, k), el("td", {}, v))))));
    const similar = await api<{ item: string; items: { item: string; score: number }[] }>(
      `/v1/items/${encodeURIComponent(id)}/similar?k=10`);
    root.append(el("section", { id: "similar" }, el("h2", {}, `Items similar to ${similar.item}`),
      table(["item", "similarity"], similar.items.map((r) =>
        el("tr", { "data-item": r.item }, el("td", {}, link(`#/item/${encodeURIComponent(r.item)}`, r.item)), numberCell(r.score))))));
  } catch (e) {
    root.append(errorLine(e));
  }
}

interface Snapshot {
  seq: number;
  created_unix_ms: number;
  size_bytes: number;
}

async function renderSnapshots(message = ""): Promise<void> {
  const take = el("button", { id: "take-snapshot" }, "Take a snapshot now");
  const root = el("div", { id: "snapshots-page" }, el("p", {}, take));
  if (message) root.append(el("p", { id: "snapshot-message" }, message));
  main.replaceChildren(root);
  take.addEventListener("click", async () => {
    try {
      const s = await api<Snapshot>("/v1/admin/snapshot", { method: "POST" });
      await renderSnapshots(`snapshot written at seq ${s.seq}`);
    } catch (e) {
      root.append(errorLine(e));
    }
  });
  try {
    const { snapshots } = await api<{ snapshots: Snapshot[] }>("/v1/admin/snapshots");
    const rows = snapshots.map((s) => {
      const rollback = el("button", { "data-rollback": String(s.seq) }, "Roll back to this");
      rollback.addEventListener("click", async () => {
        if (!confirm(`Return the live models to the snapshot at seq ${s.seq}? Serving changes at once.`)) return;
        try {
          const r = await api<{ rolled_back_to: number }>("/v1/admin/rollback", { method: "POST", body: { seq: s.seq } });
          await renderSnapshots(`rolled back to seq ${r.rolled_back_to}`);
        } catch (e) {
          root.append(errorLine(e));
        }
      });
      return el("tr", { "data-seq": String(s.seq) }, numberCell(s.seq), el("td", {}, new Date(s.created_unix_ms).toISOString()),
        numberCell(s.size_bytes), el("td", {}, rollback));
    });
    root.append(el("section", {}, el("h2", {}, "Snapshots, newest first"),
      rows.length > 0 ? table(["seq", "written", "bytes", ""], rows, { id: "snapshots" }) : el("p", { class: "muted" }, "no snapshot yet")));
  } catch (e) {
    root.append(errorLine(e));
  }
}

interface Arm {
  name: string;
  model: string;
  share: number;
  users: number;
  decisions: number;
  impressions: number;
  clicks: number;
  ctr: number | null;
  ctr_interval: [number | null, number | null];
  recall: number | null;
  ndcg: number | null;
  stopped_reason: string | null;
}
interface Experiment {
  name: string;
  state: string;
  type: string;
  arms: Arm[];
  winner: string | null;
  srm_p: number | null;
  srm_alarm: boolean;
  stopped_reason: string | null;
  interleave?: { wins: Record<string, number>; ties: number; preference: number | null; preference_interval: [number | null, number | null] };
}

async function renderExperiments(): Promise<void> {
  const root = el("div", { id: "experiments-page" });
  main.replaceChildren(root);
  try {
    const { experiments } = await api<{ experiments: Experiment[] }>("/v1/experiments");
    if (experiments.length === 0) root.append(el("p", { class: "muted" }, "no experiment"));
    for (const x of experiments) {
      const alarms: string[] = [];
      if (x.srm_alarm) alarms.push(`sample ratio mismatch (p=${formatValue(x.srm_p)})`);
      for (const a of x.arms) if (a.stopped_reason) alarms.push(`${a.name} stopped: ${a.stopped_reason}`);
      if (x.stopped_reason) alarms.push(`stopped: ${x.stopped_reason}`);
      const interval = (i: [number | null, number | null]) => `[${formatValue(i[0])}, ${formatValue(i[1])}]`;
      const section = el("section", { "data-experiment": x.name },
        el("h2", {}, `${x.name} (${x.type}, ${x.state}) winner: ${x.winner ?? "none yet"}`),
        table(["arm", "model", "share", "users", "decisions", "impressions", "clicks", "CTR", "CTR 95 % interval", "recall", "NDCG"],
          x.arms.map((a) => el("tr", { "data-arm": a.name }, el("td", {}, a.name), el("td", {}, a.model), numberCell(a.share),
            numberCell(a.users), numberCell(a.decisions), numberCell(a.impressions), numberCell(a.clicks),
            numberCell(a.ctr, { "data-field": "ctr" }), el("td", { "data-field": "ctr_interval" }, interval(a.ctr_interval)),
            numberCell(a.recall), numberCell(a.ndcg)))),
      );
      if (x.interleave) {
        const wins = Object.entries(x.interleave.wins).map(([arm, n]) => `${arm} ${n}`).join(", ");
        section.append(el("p", {}, `interleaving: wins ${wins}, ties ${x.interleave.ties}, preference ${formatValue(x.interleave.preference)} ${interval(x.interleave.preference_interval)}`));
      }
      section.append(alarms.length > 0
        ? el("p", { class: "alarm", "data-alarms": String(alarms.length) }, alarms.join("; "))
        : el("p", { class: "muted", "data-alarms": "0" }, "no alarm"));
      root.append(section);
    }
  } catch (e) {
    root.append(errorLine(e));
  }
}

// ---- routing ----

function currentPage(): { page: string; id: string } {
  const [, page = "live", ...rest] = location.hash.split("/");
  return { page, id: decodeURIComponent(rest.join("/")) };
}

function route(): void {
  const { page, id } = currentPage();
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    a.classList.toggle("active", a.dataset.page === page);
  }
  if (page === "user") void renderUser(id);
  else if (page === "item") void renderItem(id);
  else if (page === "snapshots") void renderSnapshots();
  else if (page === "experiments") void renderExperiments();
  else renderLive();
}

function showState(state: StreamState): void {
  const badge = document.getElementById("stream-state") as HTMLElement;
  badge.className = `state ${state.kind}`;
  badge.textContent = state.kind === "error" ? `stream: ${state.message}` : state.kind;
}

function start(): void {
  const key = document.getElementById("key") as HTMLInputElement;
  key.value = apiKey();
  (document.getElementById("key-form") as HTMLFormElement).addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(key.value.trim());
    // The stream was opened with the old key: start over with the new one.
    location.reload();
  });
  window.addEventListener("hashchange", route);
  followStats((data) => {
    history.push({ at_ms: performance.now(), stats: data as Stats });
    if (history.length > kHistory) history.shift();
    ++streamUpdates;
    document.body.dataset.updates = String(streamUpdates);
    if (currentPage().page === "live") renderLive();
  }, showState);
  route();
}

start();
