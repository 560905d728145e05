// The HTTP contract: api/openapi.yaml against a real `liverec serve`.
//
// Usage: node tests/contract/contract_test.mjs path/to/liverec
//
// 1. The router's routes (`liverec routes`, from the server's own table) and the spec's
//    operations are the same set.
// 2. Every operation of the spec is called, on its success path and on the errors it
//    documents that a test can provoke, and every answer's status must be one the spec lists
//    for the operation, its Content-Type the one listed, and its body valid against the listed
//    schema (JSON Schema 2020-12, as OpenAPI 3.1 has it; unknown fields are errors, since the
//    schemas close their objects). An operation without a case fails the test.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";

import Ajv2020 from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";

import { startServer } from "./server.mjs";

const binary = process.argv[2];
if (!binary) throw new Error("usage: contract_test.mjs path/to/liverec");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const spec = parseYaml(readFileSync(join(root, "api", "openapi.yaml"), "utf8"));
const kMethods = ["get", "put", "post", "delete", "patch"];

// "GET /v1/items/{id}": the spec's path parameter names become "{id}", as `liverec routes`
// writes every id segment.
function routeKey(method, path) {
  return `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, "{id}")}`;
}

function specOperations() {
  const ops = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of kMethods) {
      if (item[method]) ops.set(routeKey(method, path), { path, method, op: item[method] });
    }
  }
  return ops;
}

function resolve(object) {
  if (!object.$ref) return object;
  const parts = object.$ref.replace(/^#\//, "").split("/");
  return parts.reduce((node, part) => node[part.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(spec, "openapi");
const validators = new Map();
function validatorFor(pointer) {
  if (!validators.has(pointer)) {
    validators.set(pointer, ajv.compile({ $ref: `openapi#${pointer}` }));
  }
  return validators.get(pointer);
}
const escape = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");

const covered = new Map();  // route key -> statuses seen

// Sends one request and checks its answer against the operation `key` of the spec; returns
// the parsed body (JSON) or text.
async function call(server, key, { path, query = "", body, contentType, headers = {} }) {
  const ops = specOperations();
  const entry = ops.get(key);
  assert.ok(entry, `no operation ${key} in the spec`);
  const init = { method: entry.method.toUpperCase(), headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType ?? "application/json";
  }
  const response = await fetch(`${server.url}${path}${query}`, init);
  const text = await response.text();
  const status = String(response.status);
  const where = `${init.method} ${path}${query} -> ${status} ${text.slice(0, 300)}`;
  const responses = entry.op.responses;
  assert.ok(status in responses, `${where}: status ${status} not in the spec's ${Object.keys(responses)}`);
  const described = resolve(responses[status]);
  const mediaTypes = Object.keys(described.content ?? {});
  const got = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  assert.ok(mediaTypes.includes(got), `${where}: Content-Type ${got} not in ${mediaTypes}`);
  let pointer;
  if (responses[status].$ref) {
    pointer = `${responses[status].$ref.slice(1)}/content/${escape(got)}/schema`;
  } else {
    pointer = `/paths/${escape(entry.path)}/${entry.method}/responses/${status}/content/${escape(got)}/schema`;
  }
  const parsed = got === "application/json" ? JSON.parse(text) : text;
  const validate = validatorFor(pointer);
  assert.ok(validate(parsed), `${where}: ${ajv.errorsText(validate.errors)}`);
  if (described.headers?.["Retry-After"]) {
    assert.ok(response.headers.get("retry-after"), `${where}: no Retry-After`);
  }
  if (!covered.has(key)) covered.set(key, new Set());
  covered.get(key).add(status);
  return { status: response.status, body: parsed };
}

// Opens the server-sent events of operation `key` at `path`, checks the answer's status and
// Content-Type against the spec, validates the first event's data against the operation's
// `x-event-data` schema, and returns that data with the still open stream's AbortController.
async function openStream(server, key, path) {
  const entry = specOperations().get(key);
  assert.ok(entry, `no operation ${key} in the spec`);
  const abort = new AbortController();
  const response = await fetch(`${server.url}${path}`, { signal: abort.signal });
  const where = `GET ${path} -> ${response.status}`;
  assert.ok(String(response.status) in entry.op.responses, `${where}: status not in the spec`);
  assert.equal(response.status, 200, where);
  const got = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  assert.ok(Object.keys(entry.op.responses["200"].content).includes(got), `${where}: Content-Type ${got}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { value, done } = await reader.read();
    assert.ok(!done, `${where}: the stream ended before its first event`);
    text += value;
  }
  const block = text.slice(0, text.indexOf("\n\n"));
  assert.ok(block.startsWith("data: "), `${where}: not a data line: ${block.slice(0, 100)}`);
  const data = JSON.parse(block.slice("data: ".length));
  const pointer = entry.op["x-event-data"].$ref.slice(1);
  const validate = validatorFor(pointer);
  assert.ok(validate(data), `${where}: event data: ${ajv.errorsText(validate.errors)}`);
  if (!covered.has(key)) covered.set(key, new Set());
  covered.get(key).add("200");
  return { data, abort };
}

test("the router and the spec list the same routes", () => {
  const routes = execFileSync(binary, ["routes"], { encoding: "utf8" }).trim().split("\n");
  const fromRouter = new Set(routes);
  const fromSpec = new Set(specOperations().keys());
  const onlyRouter = [...fromRouter].filter((r) => !fromSpec.has(r));
  const onlySpec = [...fromSpec].filter((r) => !fromRouter.has(r));
  assert.deepEqual({ onlyRouter, onlySpec }, { onlyRouter: [], onlySpec: [] });
});

test("every route of a real server answers as the spec says", async () => {
  const server = await startServer(binary, ["--set", "log.sync=always"]);
  try {
    await call(server, "GET /healthz", { path: "/healthz" });
    await call(server, "GET /readyz", { path: "/readyz" });

    const events = [
      { user: "ann", item: "dune", type: "view", context: { device: "mobile" } },
      { user: "bob", item: "dune", type: "view" },
      { user: "bob", item: "arrival", type: "purchase", id: "e3" },
      { user: "bob", item: "solaris", value: 4.5 },
      { user: "cid", item: "arrival" },
      { user: "cid", item: "solaris" },
    ];
    let r = await call(server, "POST /v1/events", {
      path: "/v1/events", query: "?wait=learned", body: events,
    });
    assert.equal(r.body.accepted, events.length);
    r = await call(server, "POST /v1/events", {
      path: "/v1/events", body: '{"user":"dan","item":"dune"}\n', contentType: "application/x-ndjson",
    });
    assert.equal(r.body.accepted, 1);
    r = await call(server, "POST /v1/events", { path: "/v1/events", body: [{ user: "x", itme: "y" }] });
    assert.equal(r.status, 400);
    assert.equal(r.body.rejected[0].field, "itme");
    r = await call(server, "POST /v1/events", { path: "/v1/events", body: "[{", contentType: "application/json" });
    assert.equal(r.body.error.code, "invalid_argument");
    r = await call(server, "POST /v1/events", { path: "/v1/events", body: "user=x", contentType: "text/plain" });
    assert.equal(r.status, 415);
    r = await call(server, "POST /v1/events", {
      path: "/v1/events", body: [], headers: { Origin: "https://elsewhere.example" },
    });
    assert.equal(r.status, 403);

    r = await call(server, "PUT /v1/items/{id}", {
      path: "/v1/items/dune", body: { categories: ["scifi"], tags: ["classic"], properties: { price: 9.5 } },
    });
    assert.equal(r.body.item, "dune");
    await call(server, "PUT /v1/items/{id}", { path: "/v1/items/arrival", body: { categories: ["drama"] } });
    r = await call(server, "PUT /v1/items/{id}", { path: "/v1/items/dune", body: { categories: [3] } });
    assert.equal(r.status, 400);
    r = await call(server, "DELETE /v1/items/{id}", { path: "/v1/items/nothing" });
    assert.equal(r.status, 404);

    r = await call(server, "PUT /v1/users/{id}", { path: "/v1/users/ann", body: { attributes: { country: "br", age: 31 } } });
    assert.equal(r.body.user, "ann");
    r = await call(server, "PUT /v1/users/{id}", { path: "/v1/users/ann", body: { attrs: {} } });
    assert.equal(r.status, 400);
    r = await call(server, "GET /v1/users/{id}", { path: "/v1/users/bob", query: "?limit=2" });
    assert.equal(r.body.recent.length, 2);
    r = await call(server, "GET /v1/users/{id}", { path: "/v1/users/ann" });
    assert.equal(r.body.metadata.attributes.country, "br");
    r = await call(server, "GET /v1/users/{id}", { path: "/v1/users/nobody" });
    assert.equal(r.status, 404);
    r = await call(server, "GET /v1/users/{id}", { path: "/v1/users/ann", query: "?limit=0" });
    assert.equal(r.status, 400);

    const recs = "GET /v1/recommendations";
    r = await call(server, recs, { path: "/v1/recommendations", query: "?user=ann&k=5&explain=true" });
    assert.ok(r.body.items.length > 0);
    r = await call(server, recs, { path: "/v1/recommendations", query: "?user=ann&k=2&offset=1&exclude=arrival&category=scifi,drama" });
    await call(server, recs, { path: "/v1/recommendations", query: "?user=ann&explore=epsilon:0.5&diversity=0.3&category_cap=2" });
    await call(server, recs, { path: "/v1/recommendations", query: "?user=nobody&model=popularity" });
    r = await call(server, recs, { path: "/v1/recommendations", query: "?k=5" });
    assert.equal(r.status, 400);
    r = await call(server, recs, { path: "/v1/recommendations", query: "?user=ann&exclude=a,,b" });
    assert.match(r.body.error.message, /^exclude: /);
    r = await call(server, recs, { path: "/v1/recommendations", query: "?user=ann&model=nope" });
    assert.equal(r.status, 404);

    r = await call(server, "GET /v1/items/{id}/similar", { path: "/v1/items/dune/similar", query: "?k=3" });
    assert.equal(r.body.item, "dune");
    r = await call(server, "GET /v1/items/{id}/similar", { path: "/v1/items/nothing/similar" });
    assert.equal(r.status, 404);
    r = await call(server, "GET /v1/items/{id}/similar", { path: "/v1/items/dune/similar", query: "?k=0" });
    assert.equal(r.status, 400);

    r = await call(server, "DELETE /v1/items/{id}", { path: "/v1/items/solaris" });
    assert.equal(r.body.deleted, true);
    r = await call(server, "GET /v1/items/{id}", { path: "/v1/items/dune" });
    assert.deepEqual(r.body.metadata.categories, ["scifi"]);
    assert.equal(r.body.metadata.properties.price, 9.5);
    assert.equal(r.body.recommendable, true);
    r = await call(server, "GET /v1/items/{id}", { path: "/v1/items/solaris" });
    assert.equal(r.body.recommendable, false);
    r = await call(server, "GET /v1/items/{id}", { path: "/v1/items/nothing" });
    assert.equal(r.status, 404);

    r = await call(server, "GET /v1/stats", { path: "/v1/stats" });
    assert.equal(r.body.events_accepted, events.length + 1);
    r = await call(server, "GET /metrics", { path: "/metrics" });
    assert.match(r.body, /liverec_events_accepted_total/);

    const snapshot = await call(server, "POST /v1/admin/snapshot", { path: "/v1/admin/snapshot" });
    r = await call(server, "GET /v1/admin/snapshots", { path: "/v1/admin/snapshots" });
    assert.equal(r.body.snapshots[0].seq, snapshot.body.seq);
    r = await call(server, "POST /v1/admin/rollback", { path: "/v1/admin/rollback", body: { seq: snapshot.body.seq } });
    assert.equal(r.body.rolled_back_to, snapshot.body.seq);
    r = await call(server, "POST /v1/admin/rollback", { path: "/v1/admin/rollback", body: { seq: 999999 } });
    assert.equal(r.status, 404);
    r = await call(server, "POST /v1/admin/rollback", { path: "/v1/admin/rollback", body: { seq: "1" } });
    assert.equal(r.status, 400);

    // A deletion after the rollback: the replay without the user passes the rollback's record.
    r = await call(server, "DELETE /v1/users/{id}", { path: "/v1/users/cid" });
    assert.equal(r.status, 202);
    assert.equal(r.body.state, "pending");
    r = await call(server, "GET /v1/deletions/{id}", { path: `/v1/deletions/${r.body.deletion}`, query: "?wait_ms=60000" });
    assert.equal(r.body.state, "complete");
    assert.equal(r.body.user, "cid");
    r = await call(server, "GET /v1/deletions/{id}", { path: "/v1/deletions/nope" });
    assert.equal(r.status, 404);
    r = await call(server, "GET /v1/deletions/{id}", { path: "/v1/deletions/nope", query: "?wait_ms=x" });
    assert.equal(r.status, 400);

    const arms = [
      { name: "control", model: "ensemble", share: 0.5 },
      { name: "pop", model: "popularity", share: 0.5, explore: "epsilon:0.1" },
    ];
    r = await call(server, "PUT /v1/experiments/{id}", { path: "/v1/experiments/e1", body: { arms } });
    assert.equal(r.body.state, "running");
    r = await call(server, "PUT /v1/experiments/{id}", { path: "/v1/experiments/e2", body: { arms: [{ name: "a", model: "nope", share: 1 }] } });
    assert.equal(r.status, 400);
    r = await call(server, "PUT /v1/experiments/{id}", { path: "/v1/experiments/e3", body: { arms, layer: "e1-layer", traffic: 0.7 } });
    r = await call(server, "PUT /v1/experiments/{id}", { path: "/v1/experiments/e4", body: { arms, layer: "e1-layer", traffic: 0.7 } });
    assert.equal(r.status, 409);
    await call(server, "GET /v1/recommendations", { path: "/v1/recommendations", query: "?user=bob" });
    r = await call(server, "GET /v1/experiments/{id}", { path: "/v1/experiments/e1" });
    assert.equal(r.body.arms.length, 2);
    r = await call(server, "GET /v1/experiments/{id}", { path: "/v1/experiments/nope" });
    assert.equal(r.status, 404);
    r = await call(server, "GET /v1/experiments", { path: "/v1/experiments" });
    assert.ok(r.body.experiments.some((e) => e.name === "e1"));
    r = await call(server, "DELETE /v1/experiments/{id}", { path: "/v1/experiments/e1" });
    assert.equal(r.body.state, "stopped");
    r = await call(server, "DELETE /v1/experiments/{id}", { path: "/v1/experiments/e1" });
    assert.equal(r.status, 404);

    // An interleave experiment in a layer every user reaches first: merged lists with teams.
    r = await call(server, "PUT /v1/experiments/{id}", {
      path: "/v1/experiments/il",
      body: { type: "interleave", layer: "a-first", arms: [{ name: "knn", model: "item_knn" }, { name: "pop", model: "popularity" }] },
    });
    assert.equal(r.body.type, "interleave");
    r = await call(server, "GET /v1/recommendations", { path: "/v1/recommendations", query: "?user=ann&k=4" });
    assert.equal(r.body.explore, "team_draft");
    assert.ok(r.body.items.every((item) => item.team === "knn" || item.team === "pop"));
    r = await call(server, "GET /v1/experiments/{id}", { path: "/v1/experiments/il" });
    assert.deepEqual(Object.keys(r.body.interleave.wins).sort(), ["knn", "pop"]);

    r = await call(server, "POST /v1/tokens", { path: "/v1/tokens", body: { user: "ann", ttl_s: 60 } });
    assert.equal(r.body.user, "ann");
    assert.ok(r.body.token.length > 0);
    r = await call(server, "POST /v1/tokens", { path: "/v1/tokens", body: { ttl_s: 60 } });
    assert.equal(r.status, 400);

    // The dashboard: its page and files, and the stats stream up to serve.max_streams (8).
    r = await call(server, "GET /", { path: "/" });
    assert.ok(r.body.includes('src="/ui/app.js"'));
    await call(server, "GET /ui/{id}", { path: "/ui/app.js" });
    await call(server, "GET /ui/{id}", { path: "/ui/style.css" });
    r = await call(server, "GET /ui/{id}", { path: "/ui/nothing.js" });
    assert.equal(r.status, 404);
    const streams = [];
    try {
      for (let i = 0; i < 8; ++i) streams.push(await openStream(server, "GET /v1/stats/stream", "/v1/stats/stream"));
      const stats = await call(server, "GET /v1/stats", { path: "/v1/stats" });
      assert.equal(streams[7].data.events_accepted, stats.body.events_accepted);
      assert.equal(stats.body.http.streams_open, 8);
      r = await call(server, "GET /v1/stats/stream", { path: "/v1/stats/stream" });
      assert.equal(r.status, 429);
      assert.match(r.body.error.message, /serve\.max_streams=8/);
      r = await call(server, "GET /v1/stats/stream", { path: "/v1/stats/stream", query: "?max_events=0" });
      assert.equal(r.status, 400);
    } finally {
      for (const stream of streams) stream.abort.abort();
    }
  } finally {
    await server.stop();
  }
  const uncovered = [...specOperations().keys()].filter((k) => !covered.has(k));
  assert.deepEqual(uncovered, [], "operations of the spec the test never called");
});
