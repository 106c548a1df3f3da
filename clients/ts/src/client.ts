// Clients of aitext.v1.TextService that work in browsers: gRPC-Web, through the gateway.
// The Node gRPC transport lives in ./node.ts so that browser bundles never import node:http2.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { TextService } from "./gen/aitext/v1/aitext_pb.js";

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
