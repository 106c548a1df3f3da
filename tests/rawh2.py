"""A bare HTTP/2 client for gRPC traffic no well-behaved client sends: silent streams, stray frames.

conn = await RawH2.connect("127.0.0.1", port)
stream = conn.start("/aitext.v1.TextService/Process", {"x-api-key": key})   # HEADERS only
conn.send_message(stream, request_bytes, end=True)                          # one gRPC frame
result = await conn.result(stream, timeout=5)                               # trailers or reset
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def grpc_frame(payload: bytes, *, compressed: bool = False) -> bytes:
    """One length-prefixed gRPC message."""
    return struct.pack(">?I", compressed, len(payload)) + payload


@dataclass
class StreamResult:
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    reset_code: int | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def grpc_status(self) -> int | None:
        """The call's gRPC status code: from the trailers, or a trailers-only response."""
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class RawH2:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str) -> None:
        self._reader = reader
        self._writer = writer
        self._authority = authority
        self._conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self._streams: dict[int, StreamResult] = {}
        self._settled = asyncio.Event()
        self.closed = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, host: str, port: int) -> RawH2:
        reader, writer = await asyncio.open_connection(host, port)
        conn = cls(reader, writer, f"{host}:{port}")
        conn._conn.initiate_connection()
        conn._flush()
        conn._pump = asyncio.ensure_future(conn._read_loop())
        await asyncio.wait_for(conn._settled.wait(), 10)  # the server's SETTINGS (stream limit) are in
        return conn

    @property
    def max_streams(self) -> int:
        return int(self._conn.remote_settings.max_concurrent_streams)

    def start(self, path: str, metadata: dict[str, str] | None = None, *, end: bool = False) -> int:
        """Opens a gRPC call: HEADERS, and nothing else unless `end` (END_STREAM, no message)."""
        stream = self._conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", self._authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *(metadata or {}).items(),
        ]
        self._streams[stream] = StreamResult()
        self._conn.send_headers(stream, headers, end_stream=end)
        self._flush()
        return stream

    def send_message(self, stream: int, payload: bytes, *, end: bool = False) -> None:
        self.send_raw(stream, grpc_frame(payload), end=end)

    def send_raw(self, stream: int, data: bytes, *, end: bool = False) -> None:
        self._conn.send_data(stream, data, end_stream=end)
        self._flush()

    async def result(self, stream: int, timeout: float) -> StreamResult:
        result = self._streams[stream]
        await asyncio.wait_for(result.ended.wait(), timeout)
        return result

    def is_open(self, stream: int) -> bool:
        return not self._streams[stream].ended.is_set()

    async def close(self) -> None:
        try:
            self._conn.close_connection()
            self._flush()
        except (h2.exceptions.ProtocolError, ConnectionError):
            pass
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data:
            self._writer.write(data)

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for event in self._conn.receive_data(data):
                    self._handle(event)
                self._flush()
        finally:
            self.closed.set()
            for result in self._streams.values():
                result.ended.set()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self._settled.set()
            return
        stream = getattr(event, "stream_id", None)
        result = self._streams.get(stream) if stream else None
        if result is None:
            return
        if isinstance(event, h2.events.ResponseReceived):
            result.headers = dict(event.headers)  # type: ignore[arg-type]
        elif isinstance(event, h2.events.TrailersReceived):
            result.trailers = dict(event.headers)  # type: ignore[arg-type]
        elif isinstance(event, h2.events.DataReceived):
            result.data += event.data
            self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            result.reset_code = event.error_code
            result.ended.set()
        elif isinstance(event, h2.events.StreamEnded):
            result.ended.set()
