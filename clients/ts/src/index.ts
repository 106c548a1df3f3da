export * from "./client.js";
export * from "./errors.js";
export * from "./gen/aitext/v1/aitext_pb.js";
export type { BadRequest_FieldViolation } from "./gen/google/rpc/error_details_pb.js";
