// Clients of aitext.v1.TextService that work in browsers: gRPC-Web, through the gateway.
// The Node gRPC transport lives in ./node.ts so that browser bundles never import node:http2.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  TextService,
  type ProcessProgress,
  type ProcessRequestSchema,
  type ProcessResponse,
} from "./gen/aitext/v1/aitext_pb.js";

export type TextServiceClient = Client<typeof TextService>;

export interface ClientOptions {
  /** Sent as `authorization: Bearer <key>` on every call; nothing is sent when empty. */
  apiKey?: string;
  /** Deadline of a call that passes no `timeoutMs` of its own; default 30 s, <= 0 for none. */
  defaultTimeoutMs?: number;
  /** Extra interceptors, run after the API-key one. */
  interceptors?: Interceptor[];
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Adds the API key to each call's metadata (a no-op for an empty key). */
export function apiKeyInterceptor(apiKey: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (apiKey) {
      req.header.set("authorization", `Bearer ${apiKey}`);
    }
    return next(req);
  };
}

/** Options shared by every transport this package builds. */
export function transportOptions(options: ClientOptions) {
  return {
    defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    interceptors: [apiKeyInterceptor(options.apiKey), ...(options.interceptors ?? [])],
  };
}

/** A client over any Connect transport (for tests, or transports built by hand). */
export function clientFor(transport: Transport): TextServiceClient {
  return createClient(TextService, transport);
}

/**
 * A gRPC-Web client, for browsers (and Node's fetch), calling the gateway, e.g.
 * `createWebClient("http://localhost:8080")`. The gateway must allow the page's origin.
 */
export function createWebClient(baseUrl: string, options: ClientOptions = {}): TextServiceClient {
  return clientFor(createGrpcWebTransport({ baseUrl, ...transportOptions(options) }));
}

/**
 * Runs one operation through ProcessStream: `onProgress` gets each progress event as
 * it arrives (one per finished chunk of a text over the model's input budget; none
 * for a short text), and the promise resolves to the final response. A failed call
 * rejects with its ConnectError, as `process` does.
 */
export async function processWithProgress(
  client: TextServiceClient,
  request: MessageInitShape<typeof ProcessRequestSchema>,
  onProgress?: (progress: ProcessProgress) => void,
  options?: CallOptions,
): Promise<ProcessResponse> {
  let response: ProcessResponse | undefined;
  for await (const message of client.processStream({ request }, options)) {
    if (message.event.case === "progress") {
      onProgress?.(message.event.value);
    } else if (message.event.case === "response") {
      response = message.event.value; // the last message; read on to the stream's clean end
    }
  }
  if (response === undefined) {
    throw new ConnectError("ProcessStream ended without a response", Code.Internal);
  }
  return response;
}
