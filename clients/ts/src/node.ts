// Node services call the server (or the gateway) with native gRPC over HTTP/2.
import { createGrpcTransport } from "@connectrpc/connect-node";
import { clientFor, transportOptions, type ClientOptions, type TextServiceClient } from "./client.js";

export * from "./index.js";

/**
 * A gRPC client for Node, e.g. `createGrpcClient("http://localhost:50051")`;
 * use an https:// URL for a server behind TLS.
 */
export function createGrpcClient(baseUrl: string, options: ClientOptions = {}): TextServiceClient {
  return clientFor(createGrpcTransport({ baseUrl, ...transportOptions(options) }));
}
