// Drives the official TwelveLabs JavaScript SDK (twelvelabs-js, pinned in
// package-lock.json) against Switchboard's /v1.3 API: create, list with
// paging, retrieve, rename and delete indexes, and the error cases, each
// answer parsed by the SDK's own serializers.
//
//   BASE_URL=http://127.0.0.1:8080/v1.3 API_KEY=sbk_... node conformance.mjs
//
// The steps run in order (later ones use what earlier ones created) and stop
// at the first failure. The last line is "sdk conformance: N passed, N failed";
// the exit code is 0 only when every step passed.

import assert from "node:assert/strict";
import { TwelveLabs, TwelvelabsApi, TwelvelabsApiError } from "twelvelabs-js";

const BASE_URL = (process.env.BASE_URL ?? "").replace(/\/+$/, "");
const API_KEY = process.env.API_KEY ?? "";
if (!BASE_URL || !API_KEY) {
  console.error("set BASE_URL (e.g. http://127.0.0.1:8080/v1.3) and API_KEY");
  process.exit(2);
}

// The TwelveLabs wrapper takes no base URL option: it reads
// TWELVELABS_BASE_URL when it is constructed, and url-joins it with
// "indexes", "indexes/{id}" and so on.
process.env.TWELVELABS_BASE_URL = BASE_URL;
const client = new TwelveLabs({ apiKey: API_KEY });

// Error cases must fail at once: the SDK retries 408, 429 and 5xx twice by
// default, which would hide a wrong status behind seconds of back-off.
const once = { maxRetries: 0 };

// Names are unique to this run, so the script also works against an account
// that already has indexes; every list filters on the prefix.
const PREFIX = `sdk-conformance-${process.env.RUN_ID ?? process.pid}`;
const COUNT = 5;
const MODELS = [{ modelName: "marengo3.0", modelOptions: ["visual", "audio"] }];
const OBJECT_ID = /^[0-9a-f]{24}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UNKNOWN_ID = "0123456789abcdef01234567";

const created = []; // { id, name } in creation order
let lastUsed = "?"; // X-Ratelimit-Used of the last request

// ---------------------------------------------------------------- helpers

/** assertServed checks that a response came from BASE_URL, not elsewhere. */
function assertServed(raw, status) {
  assert.equal(raw.status, status, `HTTP status of ${raw.url}`);
  assert.ok(raw.url.startsWith(BASE_URL + "/"), `request went to ${raw.url}, not under ${BASE_URL}`);
}

/** assertRateHeaders checks the X-Ratelimit headers every answer carries. */
function assertRateHeaders(raw) {
  for (const h of ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"]) {
    const v = raw.headers.get(h);
    assert.match(v ?? "", /^\d+$/, `${h} header of ${raw.url}`);
  }
  const reset = Number(raw.headers.get("x-ratelimit-reset"));
  assert.ok(reset > Date.now() / 1000 - 1, `x-ratelimit-reset ${reset} is in the past`);
}

/** assertIndex checks an index as the SDK's IndexSchema parsed it. */
function assertIndex(idx, want) {
  assert.match(idx.id, OBJECT_ID, "index id");
  assert.equal(idx.id, want.id);
  assert.equal(idx.indexName, want.name);
  assert.deepEqual(idx.models, MODELS);
  assert.equal(idx.videoCount, 0);
  assert.equal(idx.totalDuration, 0);
  assert.ok(Array.isArray(idx.addons), "addons is a list");
  for (const k of ["createdAt", "updatedAt"]) {
    assert.match(idx[k] ?? "", ISO_TIME, `${k} is an RFC 3339 time`);
    assert.ok(!Number.isNaN(Date.parse(idx[k])), `${k} parses`);
  }
  assert.ok(Date.parse(idx.updatedAt) >= Date.parse(idx.createdAt), "updated_at is not before created_at");
  // Every key the server sent is one IndexSchema knows: with the SDK's
  // "passthrough" parsing an unknown (misspelt) key would survive as is.
  const known = ["id", "indexName", "models", "videoCount", "totalDuration", "createdAt", "updatedAt", "expiresAt", "addons"];
  for (const k of Object.keys(idx)) {
    assert.ok(known.includes(k), `unexpected index field ${k}`);
  }
}

/**
 * rejects runs a call that must fail and checks the SDK's error: its class,
 * the HTTP status and the public API's error body.
 */
async function rejects(call, status, code) {
  let err;
  try {
    await call();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${status} ${code}, but the call succeeded`);
  assert.ok(err instanceof TwelvelabsApiError, `expected a TwelvelabsApiError, got ${err?.stack ?? err}`);
  if (status === 400) {
    assert.ok(err instanceof TwelvelabsApi.BadRequestError, "a 400 is a BadRequestError");
  }
  assert.equal(err.statusCode, status, `status (body: ${JSON.stringify(err.body)})`);
  assert.equal(typeof err.body, "object", `error body is JSON: ${JSON.stringify(err.body)}`);
  assert.equal(err.body.code, code, `error code (message: ${err.body.message})`);
  assert.equal(typeof err.body.message, "string");
  assert.ok(err.body.message.length > 0, "error message is not empty");
  assertServed(err.rawResponse, status);
  return err;
}

/** listAll iterates the SDK's Pageable to its end and returns the items and the pages fetched. */
async function listAll(request) {
  const pager = await client.indexes.list(request);
  const items = [];
  for await (const idx of pager) {
    items.push(idx);
  }
  return items;
}

// ---------------------------------------------------------------- steps

const steps = [];
const step = (name, fn) => steps.push({ name, fn });

step("create indexes: 201 with a 24-hex _id", async () => {
  for (let i = 1; i <= COUNT; i++) {
    const name = `${PREFIX} ${i}`;
    const { data, rawResponse } = await client.indexes.create({ indexName: name, models: MODELS }).withRawResponse();
    assertServed(rawResponse, 201);
    assertRateHeaders(rawResponse);
    assert.match(data.id ?? "", OBJECT_ID, "created _id");
    assert.deepEqual(Object.keys(data), ["id"], "create answers only _id");
    created.push({ id: data.id, name });
  }
  assert.equal(new Set(created.map((c) => c.id)).size, COUNT, "ids are unique");
});

step("retrieve each index", async () => {
  for (const want of created) {
    const { data, rawResponse } = await client.indexes.retrieve(want.id).withRawResponse();
    assertServed(rawResponse, 200);
    assertRateHeaders(rawResponse);
    assertIndex(data, want);
  }
});

step("list pages by 2 with page_info", async () => {
  const req = { indexName: PREFIX, pageLimit: 2, sortBy: "created_at", sortOption: "asc" };
  const page = await client.indexes.list(req);
  assertServed(page.rawResponse, 200);
  assertRateHeaders(page.rawResponse);
  const pages = Math.ceil(COUNT / 2);
  const seen = [];
  for (let n = 1; ; n++) {
    const info = page.response.pageInfo;
    assert.deepEqual(info, { limitPerPage: 2, page: n, totalPage: pages, totalResults: COUNT }, `page_info of page ${n}`);
    if (n <= pages) {
      const size = n < pages ? 2 : COUNT - 2 * (pages - 1);
      assert.equal(page.data.length, size, `items on page ${n}`);
      page.data.forEach((idx, i) => assertIndex(idx, created[seen.length + i]));
      seen.push(...page.data.map((idx) => idx.id));
    } else {
      // A page past the end is 200 with empty data: it is how the SDK
      // knows to stop.
      assert.deepEqual(page.data, [], `page ${n} past the end`);
      assertServed(page.rawResponse, 200);
    }
    if (!page.hasNextPage()) {
      assert.equal(n, pages + 1, "the SDK stops on the first empty page");
      break;
    }
    await page.getNextPage();
  }
  assert.deepEqual(seen, created.map((c) => c.id), "oldest first, each index once");
});

step("iterate the Pageable across pages", async () => {
  const asc = await listAll({ indexName: PREFIX, pageLimit: 2, sortBy: "created_at", sortOption: "asc" });
  assert.deepEqual(asc.map((i) => i.id), created.map((c) => c.id), "ascending");
  const desc = await listAll({ indexName: PREFIX, pageLimit: 2, sortOption: "desc" });
  assert.deepEqual(desc.map((i) => i.id), created.map((c) => c.id).reverse(), "descending");
});

step("list defaults: 10 per page, newest first", async () => {
  const page = await client.indexes.list({ indexName: PREFIX });
  assert.deepEqual(page.response.pageInfo, { limitPerPage: 10, page: 1, totalPage: 1, totalResults: COUNT });
  assert.deepEqual(page.data.map((i) => i.id), created.map((c) => c.id).reverse());
});

step("rename (update): 204, then retrieve shows the new name", async () => {
  const target = created[0];
  const name = `${PREFIX} renamed`;
  const { data, rawResponse } = await client.indexes.update(target.id, { indexName: name }).withRawResponse();
  assertServed(rawResponse, 204);
  assert.equal(data, undefined, "no body");
  target.name = name;
  const got = await client.indexes.retrieve(target.id);
  assertIndex(got, target);
  const found = await listAll({ indexName: `${PREFIX} renamed` });
  assert.deepEqual(found.map((i) => i.id), [target.id], "the name filter finds the renamed index");
});

step("duplicate name: 400 index_name_already_exists", async () => {
  await rejects(() => client.indexes.create({ indexName: created[1].name, models: MODELS }, once), 400, "index_name_already_exists");
  await rejects(() => client.indexes.update(created[2].id, { indexName: created[1].name }, once), 400, "index_name_already_exists");
  const all = await listAll({ indexName: PREFIX, pageLimit: 50 });
  assert.equal(all.length, COUNT, "nothing was created");
  assert.equal(all.find((i) => i.id === created[2].id)?.indexName, created[2].name, "nothing was renamed");
});

step("page_limit 51: 400 parameter_invalid (50 is fine)", async () => {
  await rejects(() => client.indexes.list({ pageLimit: 51 }, once), 400, "parameter_invalid");
  const page = await client.indexes.list({ indexName: PREFIX, pageLimit: 50 }, once);
  assert.equal(page.response.pageInfo.limitPerPage, 50);
});

step("delete: 204, then the index is gone", async () => {
  const gone = created.pop();
  const { data, rawResponse } = await client.indexes.delete(gone.id).withRawResponse();
  assertServed(rawResponse, 204);
  assert.equal(data, undefined, "no body");
  const err = await rejects(() => client.indexes.retrieve(gone.id, once), 404, "resource_not_exists");
  assert.ok(err.body.message.includes(gone.id), `the message names the id: ${err.body.message}`);
  await rejects(() => client.indexes.delete(gone.id, once), 404, "resource_not_exists");
  await rejects(() => client.indexes.update(gone.id, { indexName: `${PREFIX} zombie` }, once), 404, "resource_not_exists");
  const left = await listAll({ indexName: PREFIX, pageLimit: 2, sortOption: "asc" });
  assert.deepEqual(left.map((i) => i.id), created.map((c) => c.id), "the list no longer has it");
});

step("list the videos of an index (empty) and of an unknown one", async () => {
  const pager = await client.indexes.videos.list(created[0].id, { pageLimit: 2 });
  assertServed(pager.rawResponse, 200);
  assert.deepEqual(pager.data, []);
  assert.deepEqual(pager.response.pageInfo, { limitPerPage: 2, page: 1, totalPage: 0, totalResults: 0 });
  assert.equal(pager.hasNextPage(), false);
  await rejects(() => client.indexes.videos.list(UNKNOWN_ID, {}, once), 404, "resource_not_exists");
});

step("X-Ratelimit headers count each request", async () => {
  const a = (await client.indexes.list({ indexName: PREFIX, pageLimit: 1 })).rawResponse.headers;
  const b = (await client.indexes.list({ indexName: PREFIX, pageLimit: 1 })).rawResponse.headers;
  const num = (h, k) => Number(h.get(k));
  const limit = num(b, "x-ratelimit-limit");
  assert.ok(limit > 0, "a limit is set");
  // One more used, unless the window started over in between.
  if (num(b, "x-ratelimit-used") !== 1) {
    assert.equal(num(b, "x-ratelimit-used"), num(a, "x-ratelimit-used") + 1, "used counts up by one");
  }
  assert.equal(num(b, "x-ratelimit-remaining"), limit - num(b, "x-ratelimit-used"), "remaining = limit - used");
});

step("unknown id: 404 resource_not_exists", async () => {
  await rejects(() => client.indexes.retrieve(UNKNOWN_ID, once), 404, "resource_not_exists");
});

step("bad key: 401 api_key_invalid", async () => {
  // The real key with its last character changed, and a key of another
  // service's shape.
  const near = API_KEY.slice(0, -1) + (API_KEY.endsWith("A") ? "B" : "A");
  for (const apiKey of [near, "tlk_not-a-switchboard-key"]) {
    const bad = new TwelveLabs({ apiKey });
    await rejects(() => bad.indexes.list({}, once), 401, "api_key_invalid");
    await rejects(() => bad.indexes.retrieve(created[0].id, once), 401, "api_key_invalid");
    await rejects(() => bad.indexes.create({ indexName: `${PREFIX} intruder`, models: MODELS }, once), 401, "api_key_invalid");
  }
  const all = await listAll({ indexName: PREFIX, pageLimit: 50 });
  assert.equal(all.length, created.length, "a bad key created nothing");
});

step("clean up", async () => {
  while (created.length > 0) {
    const { id } = created.pop();
    const { rawResponse } = await client.indexes.delete(id).withRawResponse();
    assertServed(rawResponse, 204);
  }
  const page = await client.indexes.list({ indexName: PREFIX });
  assert.deepEqual(page.data, []);
  assert.equal(page.response.pageInfo.totalResults, 0);
  lastUsed = page.rawResponse.headers.get("x-ratelimit-used");
});

// ---------------------------------------------------------------- runner

let passed = 0;
let failed = 0;
for (const { name, fn } of steps) {
  const start = performance.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Math.round(performance.now() - start)} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n${String(err?.stack ?? err).replace(/^/gm, "     ")}`);
    break; // later steps build on this one
  }
}
const skipped = steps.length - passed - failed;
console.log(`rate limit window used at the end: ${lastUsed}`);
console.log(`sdk conformance: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
// Exit now: after a failed fetch the SDK leaves its 10-minute request
// timeout armed (makeRequest clears it only on success), which would keep
// node alive.
process.exit(failed > 0 || skipped > 0 ? 1 : 0);
