// Summarizes a text, then streams a small batch: node dist/src/example.js [--web] [URL]
// Default URL: http://localhost:50051 with gRPC, http://localhost:8080 (the gateway) with --web.
import { Code, ConnectError, Operation, createGrpcClient, createWebClient, fieldViolations } from "./node.js";

const web = process.argv.includes("--web");
const url = process.argv.slice(2).find((a) => !a.startsWith("--")) ?? (web ? "http://localhost:8080" : "http://localhost:50051");
const options = { apiKey: process.env.AITEXT_CLIENT_API_KEY };
const client = web ? createWebClient(url, options) : createGrpcClient(url, options);

const text = "The new release is fast and reliable. Users praise the clear documentation. Some want more examples.";
const res = await client.process({ text, operation: Operation.SUMMARIZE, options: { case: "summarizeOptions", value: { maxLength: 20 } } });
console.log(`summary (${res.model}, cache hit: ${res.cache?.hit ?? false}): ${res.result.case === "summary" ? res.result.value : "?"}`);

const requests = [Operation.SENTIMENT, Operation.KEY_POINTS, Operation.QA].map((operation) => ({ text, operation }));
for await (const item of client.processBatch({ requests })) {
  const outcome = item.outcome.case === "response" ? item.outcome.value.result.case : `error ${item.outcome.value?.message}`;
  console.log(`batch item ${item.index}: ${outcome}`);
}

try {
  await client.process({ text, operation: Operation.QA }); // qa needs a question
} catch (err) {
  const e = ConnectError.from(err);
  console.log(`error: ${Code[e.code]}: ${e.rawMessage}`, fieldViolations(e).map((v) => `${v.field}: ${v.description}`));
}
