"""`aitext process`: one Process call from the command line."""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from google.protobuf import json_format
from grpc_status import rpc_status

from aitext.errors import field_violations
from aitext.operations import BY_NAME
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc


def build_request(args: argparse.Namespace, text: str) -> pb.ProcessRequest:
    spec = BY_NAME[args.operation]
    request = pb.ProcessRequest(text=text, operation=spec.enum, question=args.question)
    for option in spec.options:
        value = getattr(args, option.name)
        if value is not None and spec.options_field is not None:
            setattr(getattr(request, spec.options_field), option.name, value)
    request.cache_control.skip_read = args.skip_cache
    return request


def render(response: pb.ProcessResponse) -> str:
    kind = response.WhichOneof("result")
    if kind == "sentiment":
        s = response.sentiment
        label = pb.SentimentLabel.Name(s.label).removeprefix("SENTIMENT_LABEL_").lower()
        return f"{label} ({s.confidence:.2f}): {s.explanation}"
    if kind == "key_points":
        return "\n".join(f"- {point}" for point in response.key_points.points)
    if kind == "questions":
        return "\n".join(f"{i}. {q}" for i, q in enumerate(response.questions.questions, 1))
    return str(getattr(response, kind or "summary"))


def describe_error(error: grpc.RpcError) -> str:
    lines = [f"error: {error.code().name}: {error.details()}"]
    status = rpc_status.from_call(error)
    if status is not None:
        lines += [f"  {field}: {description}" for field, description in field_violations(status).items()]
    return "\n".join(lines)


def run_process(args: argparse.Namespace) -> int:
    text = args.text if args.text is not None else sys.stdin.read()
    api_key = args.api_key or os.environ.get("AITEXT_CLIENT_API_KEY")
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(args.address, options=options) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        try:
            response = stub.Process(build_request(args, text), timeout=args.timeout, metadata=metadata)
        except grpc.RpcError as error:
            print(describe_error(error), file=sys.stderr)
            return 1
    if args.json:
        print(json_format.MessageToJson(response))
    else:
        print(render(response))
        cache = f"cache hit ({response.cache.tier})" if response.cache.hit else "cache miss"
        print(f"[{response.model}, {response.processing_time_ms:.1f} ms, {cache}]", file=sys.stderr)
    return 0
