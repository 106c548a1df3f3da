// Summarizes a long text through ProcessStream, printing the progress of its chunks, then
// the chunk and cache figures: node dist/src/progress-example.js [--web] [URL] [FILE]
// Default URL: http://localhost:50051 with gRPC, http://localhost:8080 (the gateway) with
// --web; without FILE, about 1 MB of generated prose. A text is processed in chunks only
// when it is over the model's input budget (the server's AITEXT_MODEL_MAX_INPUT_BYTES; the
// local model has none unless set, e.g. 16384).
import { readFileSync } from "node:fs";
import { Operation, createGrpcClient, createWebClient, processWithProgress } from "./node.js";

const web = process.argv.includes("--web");
const [url = web ? "http://localhost:8080" : "http://localhost:50051", file] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const options = { apiKey: process.env.AITEXT_CLIENT_API_KEY, defaultTimeoutMs: 600_000 };
const client = web ? createWebClient(url, options) : createGrpcClient(url, options);

let text = file === undefined ? "" : readFileSync(file, "utf8");
for (let i = 0; file === undefined && text.length < 1 << 20; i++) {
  text += `Report paragraph ${i}. The museum welcomed ${100 + ((i * 37) % 900)} visitors to the north gallery, `;
  text += "and the heritage trust asked the council to fund the roof before winter.\n\n";
}

const res = await processWithProgress(client, { text, operation: Operation.SUMMARIZE }, (p) => {
  process.stderr.write(`\r${p.stage}: ${p.chunksDone} of ${p.chunksTotal} chunks done, ${p.chunksCached} from the cache   `);
});
process.stderr.write("\n");
const chunks = res.chunks;
console.log(
  `chunks ${chunks?.total ?? 0}, from the cache ${chunks?.cached ?? 0}, model calls ${chunks?.modelCalls ?? 0}` +
    ` (${chunks?.reduceCalls ?? 0} reduce), whole answer from the cache: ${res.cache?.hit ?? false}`,
);
console.log(`summary: ${res.result.case === "summary" ? res.result.value.slice(0, 300) : "?"}`);
