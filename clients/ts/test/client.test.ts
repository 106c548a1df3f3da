// The clients against the real server: gRPC-Web through the real gateway, and gRPC direct.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { toJson } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  Operation,
  ProcessResponseSchema,
  apiKeyInterceptor,
  createGrpcClient,
  createWebClient,
  fieldViolations,
  processWithProgress,
  type ProcessProgress,
  type ProcessResponse,
  type TextServiceClient,
} from "../src/node.js";
import { TEST_API_KEY, eventually, startGateway, startServer, type Running } from "./support.js";

const TEXT =
  "The city opened a new library downtown. Visitors love the bright reading rooms and the friendly staff. " +
  "The library also offers free language classes every weekend. Some residents worry about parking.";

const LONG_BUDGET = "16384";

/** About `bytes` of prose whose paragraphs all differ; `seed` makes texts differ. */
function longText(bytes: number, seed: string): string {
  const paragraphs: string[] = [];
  for (let i = 0, size = 0; size < bytes; i++) {
    const p =
      `Paragraph ${i} of report ${seed}. The observatory opened the dome to ${(i * 7) % 900} visitors that season, ` +
      "and the astronomy society asked the council for a larger telescope before winter.";
    paragraphs.push(p);
    size += p.length + 2;
  }
  return paragraphs.join("\n\n");
}

const REQUESTS = [
  { text: TEXT, operation: Operation.SUMMARIZE, options: { case: "summarizeOptions" as const, value: { maxLength: 20 } } },
  { text: TEXT, operation: Operation.SENTIMENT },
  { text: TEXT, operation: Operation.KEY_POINTS, options: { case: "keyPointsOptions" as const, value: { maxPoints: 3 } } },
  { text: TEXT, operation: Operation.QUESTIONS, options: { case: "questionsOptions" as const, value: { numQuestions: 2 } } },
  { text: TEXT, operation: Operation.QA, question: "What does the library offer on weekends?" },
];

const EXPECTED_CASE: Record<number, ProcessResponse["result"]["case"]> = {
  [Operation.SUMMARIZE]: "summary",
  [Operation.SENTIMENT]: "sentiment",
  [Operation.KEY_POINTS]: "keyPoints",
  [Operation.QUESTIONS]: "questions",
  [Operation.QA]: "answer",
};

/** What must not depend on the path a call took: everything but timing and cache state. */
function answer(res: ProcessResponse) {
  const json = toJson(ProcessResponseSchema, res) as Record<string, unknown>;
  delete json.processingTimeMs;
  delete json.cache;
  return json;
}

let server: Running;
let gateway: Running;
let clients: Record<"grpc-web via gateway" | "grpc direct", TextServiceClient>;

before(async () => {
  // A small input budget: the short texts still fit one call, and a 1 MB text goes
  // through the map-reduce in chunks, with progress events.
  server = await startServer({ AITEXT_MODEL_MAX_INPUT_BYTES: LONG_BUDGET });
  gateway = await startGateway([server.address]);
  clients = {
    "grpc-web via gateway": createWebClient(`http://${gateway.address}`, { defaultTimeoutMs: 20_000, apiKey: TEST_API_KEY }),
    "grpc direct": createGrpcClient(`http://${server.address}`, { defaultTimeoutMs: 20_000, apiKey: TEST_API_KEY }),
  };
  // The gateway serves a backend once its first health check passed.
  await eventually(() => clients["grpc-web via gateway"].listOperations({}));
});

after(async () => {
  await gateway?.stop();
  await server?.stop();
});

describe("authentication", () => {
  test("a missing or wrong key is Unauthenticated on both paths", async () => {
    for (const apiKey of [undefined, "not-the-key"]) {
      const anonymous = {
        "grpc-web via gateway": createWebClient(`http://${gateway.address}`, { defaultTimeoutMs: 20_000, apiKey }),
        "grpc direct": createGrpcClient(`http://${server.address}`, { defaultTimeoutMs: 20_000, apiKey }),
      };
      for (const [path, client] of Object.entries(anonymous)) {
        await assert.rejects(client.process(REQUESTS[1]), (err: unknown) => {
          assert.equal(ConnectError.from(err).code, Code.Unauthenticated, `${path} with key ${apiKey}`);
          return true;
        });
      }
    }
  });
});

describe("Process", () => {
  test("every operation gives its typed result, the same through both transports", async () => {
    for (const request of REQUESTS) {
      const web = await clients["grpc-web via gateway"].process({ ...request, cacheControl: { skipRead: true } });
      const grpc = await clients["grpc direct"].process({ ...request, cacheControl: { skipRead: true } });
      assert.equal(web.result.case, EXPECTED_CASE[request.operation], Operation[request.operation]);
      assert.equal(web.operation, request.operation);
      assert.deepEqual(answer(web), answer(grpc), Operation[request.operation]);
    }
  });

  test("the second identical call is a cache hit with the same answer", async () => {
    const request = { text: `${TEXT} (cache probe ${Date.now()})`, operation: Operation.SENTIMENT };
    const first = await clients["grpc direct"].process(request);
    const second = await clients["grpc-web via gateway"].process(request);
    assert.equal(first.cache?.hit, false);
    assert.equal(second.cache?.hit, true);
    assert.equal(second.cache?.key, first.cache?.key);
    assert.deepEqual(answer(second), answer(first));
  });

  for (const path of ["grpc-web via gateway", "grpc direct"] as const) {
    test(`qa without a question is InvalidArgument with a field violation (${path})`, async () => {
      const err = await clients[path].process({ text: TEXT, operation: Operation.QA }).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.InvalidArgument, err.message);
      const violations = fieldViolations(err);
      assert.ok(violations.some((v) => v.field === "question" && v.description !== ""), JSON.stringify(violations));
    });
  }
});

describe("ProcessBatch", () => {
  for (const path of ["grpc-web via gateway", "grpc direct"] as const) {
    test(`results stream back one message per item, each with its index (${path})`, async () => {
      const requests = [...REQUESTS, { text: TEXT, operation: Operation.QA }]; // the last one is invalid
      const received: { index: number; outcome: string }[] = [];
      for await (const item of clients[path].processBatch({ requests, maxConcurrency: 2 })) {
        received.push({ index: item.index, outcome: item.outcome.case ?? "none" });
        if (item.outcome.case === "response") {
          assert.equal(item.outcome.value.result.case, EXPECTED_CASE[requests[item.index].operation]);
        } else {
          assert.equal(item.index, requests.length - 1);
          assert.equal(item.outcome.value?.code, Code.InvalidArgument);
        }
      }
      assert.equal(received.length, requests.length);
      assert.deepEqual(
        received.map((r) => r.index).sort((a, b) => a - b),
        requests.map((_, i) => i),
      );
      assert.equal(received.filter((r) => r.outcome === "error").length, 1);
    });
  }

  test("both transports stream the same answers", async () => {
    const collect = async (client: TextServiceClient) => {
      const byIndex = new Map<number, unknown>();
      for await (const item of client.processBatch({ requests: REQUESTS })) {
        assert.equal(item.outcome.case, "response");
        byIndex.set(item.index, answer(item.outcome.value as ProcessResponse));
      }
      return [...byIndex.entries()].sort(([a], [b]) => a - b);
    };
    assert.deepEqual(await collect(clients["grpc-web via gateway"]), await collect(clients["grpc direct"]));
  });
});

describe("ProcessStream", () => {
  for (const path of ["grpc-web via gateway", "grpc direct"] as const) {
    test(`a 1 MB text reports each chunk before the final response (${path})`, async () => {
      const events: ProcessProgress[] = [];
      const request = { text: longText(1 << 20, path), operation: Operation.SUMMARIZE };
      const res = await processWithProgress(clients[path], request, (p) => events.push(p), { timeoutMs: 120_000 });
      const chunks = res.chunks!;
      assert.ok(chunks.total >= 10, `a 1 MB text over a ${LONG_BUDGET}-byte budget: ${chunks.total} chunks`);
      assert.ok(chunks.modelCalls > 0 && res.result.case === "summary" && res.result.value !== "");
      assert.ok(events.length >= chunks.total, `${events.length} progress events for ${chunks.total} chunks`);
      events.forEach((p, i) => {
        assert.equal(p.chunksTotal, chunks.total);
        assert.ok(i === 0 || p.chunksDone >= events[i - 1].chunksDone, `chunks done went back at event ${i}`);
      });
      assert.equal(events.at(-1)!.chunksDone, chunks.total);
    });
  }

  test("a short text gives the response alone; an error rejects as process does", async () => {
    const events: ProcessProgress[] = [];
    const res = await processWithProgress(clients["grpc-web via gateway"], REQUESTS[1], (p) => events.push(p));
    assert.equal(res.result.case, "sentiment");
    assert.equal(events.length, 0);
    await assert.rejects(processWithProgress(clients["grpc direct"], { text: TEXT, operation: Operation.QA }), (err: unknown) => {
      assert.equal(ConnectError.from(err).code, Code.InvalidArgument);
      return true;
    });
  });
});

describe("ListOperations", () => {
  test("describes the five operations, the same through both transports", async () => {
    const web = await clients["grpc-web via gateway"].listOperations({});
    const grpc = await clients["grpc direct"].listOperations({});
    assert.deepEqual(
      web.operations.map((op) => op.name),
      ["summarize", "sentiment", "key_points", "questions", "qa"],
    );
    assert.deepEqual(web, grpc);
  });
});

describe("apiKeyInterceptor", () => {
  const run = async (key: string | undefined) => {
    const header = new Headers();
    await apiKeyInterceptor(key)(async (req) => req as never)({ header } as never);
    return header.get("authorization");
  };
  test("sends the key as a bearer token", async () => assert.equal(await run("k-123"), "Bearer k-123"));
  test("sends nothing without a key", async () => assert.equal(await run(""), null));
});
