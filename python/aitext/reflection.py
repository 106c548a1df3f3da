"""Server reflection every tool can use: `grpc.reflection.v1` next to `v1alpha`, and method symbols.

grpcio-reflection (1.85) serves only `grpc.reflection.v1alpha`, and its `file_containing_symbol`
asks the descriptor pool, whose `FindFileContainingSymbol` does not know methods: `grpcurl
describe aitext.v1.TextService.Process` and ghz's `--call aitext.v1.TextService/Process` got
"Symbol not found" (upstream grpc/grpc#34743). Here the library's servicer is kept for everything
else; a symbol the pool cannot place is looked up as a member of its parent (a service's method,
a message's field, oneof, nested type or enum value), and answered with the parent's file.

`grpc.reflection.v1` is the same protocol as `v1alpha` under a new package: the same messages,
field for field. Its file descriptor is derived from `v1alpha`'s by renaming the package (so a
tool that describes every listed service finds it), and its method shares the `v1alpha` servicer
and message classes: the bytes on the wire are the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1ALPHA_SERVICE = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"


def _members(pool: descriptor_pool.DescriptorPool, parent: str) -> Mapping[str, object]:
    """The named members of the service or message called `parent`; empty when it is neither."""
    try:
        service = pool.FindServiceByName(parent)
    except KeyError:
        pass
    else:
        return service.methods_by_name
    try:
        message = pool.FindMessageTypeByName(parent)
    except KeyError:
        return {}
    return {
        **message.fields_by_name,
        **message.oneofs_by_name,
        **message.nested_types_by_name,
        **message.enum_types_by_name,
        **message.enum_values_by_name,
        **message.extensions_by_name,
    }


def file_containing_symbol(pool: descriptor_pool.DescriptorPool, symbol: str) -> descriptor.FileDescriptor:
    """The file that declares `symbol`, methods and other members included; KeyError when none does."""
    try:
        return pool.FindFileContainingSymbol(symbol)
    except KeyError:
        parent, _, member = symbol.rpartition(".")
        if not parent or member not in _members(pool, parent):
            raise
        return file_containing_symbol(pool, parent)


class ReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]  # untyped library
    """grpcio-reflection's asyncio servicer, resolving every symbol a descriptor pool declares."""

    def __init__(self, service_names: Iterable[str], pool: descriptor_pool.DescriptorPool | None = None) -> None:
        super().__init__(service_names, pool=pool)
        self._symbol_pool: descriptor_pool.DescriptorPool = pool or descriptor_pool.Default()

    def _file_containing_symbol(
        self, request: reflection_pb2.ServerReflectionRequest, fully_qualified_name: str
    ) -> reflection_pb2.ServerReflectionResponse:
        try:
            file = file_containing_symbol(self._symbol_pool, fully_qualified_name)
        except KeyError:
            return super()._file_containing_symbol(request, fully_qualified_name)  # its NOT_FOUND answer
        return self._file_by_filename(request, file.name)


def add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Adds grpc/reflection/v1/reflection.proto to `pool`, derived from v1alpha, unless it is there."""
    try:
        pool.FindFileByName(V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", f".{V1_PACKAGE}."
    proto.name, proto.package = V1_FILE, V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool.Add(proto)


def enable_server_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serves reflection for `service_names` (and itself) as grpc.reflection.v1 and v1alpha."""
    pool = descriptor_pool.Default()
    add_v1_descriptor(pool)
    servicer = ReflectionServicer((*service_names, V1_SERVICE, V1ALPHA_SERVICE), pool=pool)
    info: Callable[[AsyncIterator[Any], grpc.aio.ServicerContext], AsyncIterator[Any]] = servicer.ServerReflectionInfo
    handler = grpc.stream_stream_rpc_method_handler(
        info,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for name in (V1_SERVICE, V1ALPHA_SERVICE):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler}),)
        )
