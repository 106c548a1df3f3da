#!/usr/bin/env python3
"""Container healthcheck: exits 0 when grpc.health.v1 at ADDRESS (default localhost:50051) answers SERVING."""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

address = sys.argv[1] if len(sys.argv) > 1 else "localhost:50051"
with grpc.insecure_channel(address) as channel:
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.RpcError as error:
        sys.exit(f"{address}: {error.code().name}")
sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else f"{address}: {reply.status}")
