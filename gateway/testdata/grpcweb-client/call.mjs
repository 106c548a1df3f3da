// A real gRPC-Web client for tests/test_gateway.py: Connect-ES's gRPC-Web transport,
// with the schema read from the descriptor set generated from proto/
// (deploy/envoy/aitext.pb), so no generated TypeScript is needed.
//
//   node call.mjs BASE_URL METHOD [HEADER:VALUE ...] < request.json
//
// Prints the response as proto3 JSON, one line per message for a server stream,
// or {"error": {"code": "invalid_argument", "message": "..."}} when the call fails.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";

const [baseUrl, methodName, ...headerArgs] = process.argv.slice(2);
const descriptorSet = new URL("../../../deploy/envoy/aitext.pb", import.meta.url);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(fileURLToPath(descriptorSet))));
const service = registry.getService("aitext.v1.TextService");
const method = service.methods.find((m) => m.name === methodName);
if (!method) {
  throw new Error(`no method ${methodName} in ${service.typeName}`);
}
const headers = Object.fromEntries(headerArgs.map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1).trim()]));
const client = createClient(service, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
const request = fromJson(method.input, JSON.parse(readFileSync(0, "utf8") || "{}"), { registry });
const print = (message) => console.log(JSON.stringify(toJson(method.output, message, { registry })));

try {
  if (method.methodKind === "server_streaming") {
    for await (const message of client[method.localName](request, { headers })) {
      print(message);
    }
  } else {
    print(await client[method.localName](request, { headers }));
  }
} catch (err) {
  const e = ConnectError.from(err);
  console.log(JSON.stringify({ error: { code: Code[e.code], message: e.rawMessage } }));
}
