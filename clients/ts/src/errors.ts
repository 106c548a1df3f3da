// Errors arrive as ConnectError: a gRPC status code, a message and google.rpc details.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  RetryInfoSchema,
  type BadRequest_FieldViolation,
} from "./gen/google/rpc/error_details_pb.js";

export { Code, ConnectError };

/** The BadRequest field violations of an INVALID_ARGUMENT error (empty for other errors). */
export function fieldViolations(err: unknown): BadRequest_FieldViolation[] {
  return ConnectError.from(err)
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations);
}

/** How long the server asks the caller to wait before retrying (RESOURCE_EXHAUSTED), if it says. */
export function retryDelayMs(err: unknown): number | undefined {
  const [info] = ConnectError.from(err).findDetails(RetryInfoSchema);
  if (!info?.retryDelay) {
    return undefined;
  }
  return Number(info.retryDelay.seconds) * 1000 + Math.round(info.retryDelay.nanos / 1e6);
}
