// Smoke test of the TypeScript client against a real server: events in, a recommendation out,
// similar items, item metadata, a per-request exclude, the errors as LiverecError.
// Usage (compiled by `npm run build:ts`): node smoke_test.js path/to/liverec REPO_ROOT
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { Client, LiverecError } from "../src/client.js";

const [binary, root] = process.argv.slice(2);
if (!binary || !root) throw new Error("usage: smoke_test.js path/to/liverec REPO_ROOT");
// The Node tests' server helper (a plain ES module without types).
const { startServer } = await import(pathToFileURL(join(root, "tests/contract/server.mjs")).href);
const server = await startServer(binary);
try {
  const client = new Client(server.url);
  const ingest = await client.events(
    [
      { user: "ann", item: "dune" },
      { user: "bob", item: "dune" },
      { user: "bob", item: "arrival", type: "purchase" },
      { user: "bob", item: "solaris" },
    ],
    "learned",
  );
  assert.equal(ingest.accepted, 4);
  assert.deepEqual((await client.putItem("arrival", { categories: ["drama"] })).item, "arrival");
  const recs = await client.recommendations("ann", 5);
  assert.deepEqual(recs.items.map((i) => i.item).sort(), ["arrival", "solaris"]);
  const excluded = await client.recommendations("ann", 5, { exclude: ["arrival"] });
  assert.deepEqual(excluded.items.map((i) => i.item), ["solaris"]);
  const drama = await client.recommendations("ann", 5, { category: ["drama"] });
  assert.deepEqual(drama.items.map((i) => i.item), ["arrival"]);
  const similar = await client.similar("dune", 3);
  assert.equal(similar.item, "dune");
  assert.ok(similar.items.some((i) => i.item === "arrival"));
  assert.equal((await client.stats()).events_accepted, 4);
  await assert.rejects(client.similar("nothing"), (e: unknown) => {
    return e instanceof LiverecError && e.status === 404 && e.code === "not_found";
  });
  const deletion = await client.deleteUser("ann");
  assert.equal(deletion.state, "pending");
  assert.equal((await client.deletion(deletion.deletion, 60000)).state, "complete");
  await assert.rejects(client.user("ann"), (e: unknown) => e instanceof LiverecError && e.status === 404);
  console.log("typescript client smoke test: ok");
} finally {
  await server.stop();
}
