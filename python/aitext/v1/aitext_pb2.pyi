from google.api import annotations_pb2 as _annotations_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_UNSPECIFIED: _ClassVar[Operation]
    OPERATION_SUMMARIZE: _ClassVar[Operation]
    OPERATION_SENTIMENT: _ClassVar[Operation]
    OPERATION_KEY_POINTS: _ClassVar[Operation]
    OPERATION_QUESTIONS: _ClassVar[Operation]
    OPERATION_QA: _ClassVar[Operation]

class SentimentLabel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENTIMENT_LABEL_UNSPECIFIED: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_POSITIVE: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEGATIVE: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEUTRAL: _ClassVar[SentimentLabel]
OPERATION_UNSPECIFIED: Operation
OPERATION_SUMMARIZE: Operation
OPERATION_SENTIMENT: Operation
OPERATION_KEY_POINTS: Operation
OPERATION_QUESTIONS: Operation
OPERATION_QA: Operation
SENTIMENT_LABEL_UNSPECIFIED: SentimentLabel
SENTIMENT_LABEL_POSITIVE: SentimentLabel
SENTIMENT_LABEL_NEGATIVE: SentimentLabel
SENTIMENT_LABEL_NEUTRAL: SentimentLabel

class SummarizeOptions(_message.Message):
    __slots__ = ("max_length",)
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    max_length: int
    def __init__(self, max_length: _Optional[int] = ...) -> None: ...

class KeyPointsOptions(_message.Message):
    __slots__ = ("max_points",)
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    max_points: int
    def __init__(self, max_points: _Optional[int] = ...) -> None: ...

class QuestionsOptions(_message.Message):
    __slots__ = ("num_questions",)
    NUM_QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    num_questions: int
    def __init__(self, num_questions: _Optional[int] = ...) -> None: ...

class CacheControl(_message.Message):
    __slots__ = ("skip_read", "skip_write", "ttl_seconds", "max_age_seconds")
    SKIP_READ_FIELD_NUMBER: _ClassVar[int]
    SKIP_WRITE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    skip_read: bool
    skip_write: bool
    ttl_seconds: int
    max_age_seconds: int
    def __init__(self, skip_read: _Optional[bool] = ..., skip_write: _Optional[bool] = ..., ttl_seconds: _Optional[int] = ..., max_age_seconds: _Optional[int] = ...) -> None: ...

class ProcessRequest(_message.Message):
    __slots__ = ("text", "operation", "question", "summarize_options", "key_points_options", "questions_options", "cache_control")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    SUMMARIZE_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    KEY_POINTS_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CONTROL_FIELD_NUMBER: _ClassVar[int]
    text: str
    operation: Operation
    question: str
    summarize_options: SummarizeOptions
    key_points_options: KeyPointsOptions
    questions_options: QuestionsOptions
    cache_control: CacheControl
    def __init__(self, text: _Optional[str] = ..., operation: _Optional[_Union[Operation, str]] = ..., question: _Optional[str] = ..., summarize_options: _Optional[_Union[SummarizeOptions, _Mapping]] = ..., key_points_options: _Optional[_Union[KeyPointsOptions, _Mapping]] = ..., questions_options: _Optional[_Union[QuestionsOptions, _Mapping]] = ..., cache_control: _Optional[_Union[CacheControl, _Mapping]] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("label", "confidence", "explanation")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    label: SentimentLabel
    confidence: float
    explanation: str
    def __init__(self, label: _Optional[_Union[SentimentLabel, str]] = ..., confidence: _Optional[float] = ..., explanation: _Optional[str] = ...) -> None: ...

class KeyPoints(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, points: _Optional[_Iterable[str]] = ...) -> None: ...

class Questions(_message.Message):
    __slots__ = ("questions",)
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, questions: _Optional[_Iterable[str]] = ...) -> None: ...

class CacheInfo(_message.Message):
    __slots__ = ("hit", "tier", "key", "age_seconds")
    HIT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    hit: bool
    tier: str
    key: str
    age_seconds: float
    def __init__(self, hit: _Optional[bool] = ..., tier: _Optional[str] = ..., key: _Optional[str] = ..., age_seconds: _Optional[float] = ...) -> None: ...

class ProcessResponse(_message.Message):
    __slots__ = ("operation", "summary", "sentiment", "key_points", "questions", "answer", "model", "processing_time_ms", "cache", "prompt_version", "chunks")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    KEY_POINTS_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    summary: str
    sentiment: Sentiment
    key_points: KeyPoints
    questions: Questions
    answer: str
    model: str
    processing_time_ms: float
    cache: CacheInfo
    prompt_version: str
    chunks: ChunkInfo
    def __init__(self, operation: _Optional[_Union[Operation, str]] = ..., summary: _Optional[str] = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., key_points: _Optional[_Union[KeyPoints, _Mapping]] = ..., questions: _Optional[_Union[Questions, _Mapping]] = ..., answer: _Optional[str] = ..., model: _Optional[str] = ..., processing_time_ms: _Optional[float] = ..., cache: _Optional[_Union[CacheInfo, _Mapping]] = ..., prompt_version: _Optional[str] = ..., chunks: _Optional[_Union[ChunkInfo, _Mapping]] = ...) -> None: ...

class ChunkInfo(_message.Message):
    __slots__ = ("total", "cached", "model_calls", "reduce_calls")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    REDUCE_CALLS_FIELD_NUMBER: _ClassVar[int]
    total: int
    cached: int
    model_calls: int
    reduce_calls: int
    def __init__(self, total: _Optional[int] = ..., cached: _Optional[int] = ..., model_calls: _Optional[int] = ..., reduce_calls: _Optional[int] = ...) -> None: ...

class ProcessStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ProcessRequest
    def __init__(self, request: _Optional[_Union[ProcessRequest, _Mapping]] = ...) -> None: ...

class ProcessProgress(_message.Message):
    __slots__ = ("chunks_done", "chunks_total", "chunks_cached", "stage")
    CHUNKS_DONE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_CACHED_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    chunks_done: int
    chunks_total: int
    chunks_cached: int
    stage: str
    def __init__(self, chunks_done: _Optional[int] = ..., chunks_total: _Optional[int] = ..., chunks_cached: _Optional[int] = ..., stage: _Optional[str] = ...) -> None: ...

class ProcessStreamResponse(_message.Message):
    __slots__ = ("progress", "response")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    progress: ProcessProgress
    response: ProcessResponse
    def __init__(self, progress: _Optional[_Union[ProcessProgress, _Mapping]] = ..., response: _Optional[_Union[ProcessResponse, _Mapping]] = ...) -> None: ...

class ProcessBatchRequest(_message.Message):
    __slots__ = ("requests", "max_concurrency")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ProcessRequest]
    max_concurrency: int
    def __init__(self, requests: _Optional[_Iterable[_Union[ProcessRequest, _Mapping]]] = ..., max_concurrency: _Optional[int] = ...) -> None: ...

class ProcessBatchResponse(_message.Message):
    __slots__ = ("index", "response", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    response: ProcessResponse
    error: _status_pb2.Status
    def __init__(self, index: _Optional[int] = ..., response: _Optional[_Union[ProcessResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OptionInfo(_message.Message):
    __slots__ = ("name", "default_value", "min_value", "max_value", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    default_value: int
    min_value: int
    max_value: int
    description: str
    def __init__(self, name: _Optional[str] = ..., default_value: _Optional[int] = ..., min_value: _Optional[int] = ..., max_value: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class OperationInfo(_message.Message):
    __slots__ = ("operation", "name", "description", "requires_question", "options", "default_ttl_seconds")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    name: str
    description: str
    requires_question: bool
    options: _containers.RepeatedCompositeFieldContainer[OptionInfo]
    default_ttl_seconds: int
    def __init__(self, operation: _Optional[_Union[Operation, str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., requires_question: _Optional[bool] = ..., options: _Optional[_Iterable[_Union[OptionInfo, _Mapping]]] = ..., default_ttl_seconds: _Optional[int] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations", "model", "max_text_bytes", "max_batch_items", "max_question_chars")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUESTION_CHARS_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[OperationInfo]
    model: str
    max_text_bytes: int
    max_batch_items: int
    max_question_chars: int
    def __init__(self, operations: _Optional[_Iterable[_Union[OperationInfo, _Mapping]]] = ..., model: _Optional[str] = ..., max_text_bytes: _Optional[int] = ..., max_batch_items: _Optional[int] = ..., max_question_chars: _Optional[int] = ...) -> None: ...

class GetCacheStatsRequest(_message.Message):
    __slots__ = ("this_worker_only",)
    THIS_WORKER_ONLY_FIELD_NUMBER: _ClassVar[int]
    this_worker_only: bool
    def __init__(self, this_worker_only: _Optional[bool] = ...) -> None: ...

class WorkerStats(_message.Message):
    __slots__ = ("worker_id", "host", "pid", "age_seconds", "answering", "lookups", "hits", "hit_ratio", "memory_entries", "memory_bytes")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ANSWERING_FIELD_NUMBER: _ClassVar[int]
    LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    host: str
    pid: int
    age_seconds: float
    answering: bool
    lookups: int
    hits: int
    hit_ratio: float
    memory_entries: int
    memory_bytes: int
    def __init__(self, worker_id: _Optional[str] = ..., host: _Optional[str] = ..., pid: _Optional[int] = ..., age_seconds: _Optional[float] = ..., answering: _Optional[bool] = ..., lookups: _Optional[int] = ..., hits: _Optional[int] = ..., hit_ratio: _Optional[float] = ..., memory_entries: _Optional[int] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class TierCounts(_message.Message):
    __slots__ = ("tier", "operation", "hits", "misses")
    TIER_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    tier: str
    operation: str
    hits: int
    misses: int
    def __init__(self, tier: _Optional[str] = ..., operation: _Optional[str] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ...) -> None: ...

class KeyLatency(_message.Message):
    __slots__ = ("text_tier", "backend", "count", "p50_us", "p95_us", "p99_us")
    TEXT_TIER_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_US_FIELD_NUMBER: _ClassVar[int]
    P95_US_FIELD_NUMBER: _ClassVar[int]
    P99_US_FIELD_NUMBER: _ClassVar[int]
    text_tier: str
    backend: str
    count: int
    p50_us: float
    p95_us: float
    p99_us: float
    def __init__(self, text_tier: _Optional[str] = ..., backend: _Optional[str] = ..., count: _Optional[int] = ..., p50_us: _Optional[float] = ..., p95_us: _Optional[float] = ..., p99_us: _Optional[float] = ...) -> None: ...

class GetCacheStatsResponse(_message.Message):
    __slots__ = ("counts", "hit_ratio", "memory_entries", "memory_bytes", "memory_max_bytes", "redis_mode", "redis_available", "compression_ratio", "decode_failures", "singleflight_joins", "key_latency", "key_backend", "provider_circuit", "model", "chunk_hits", "chunk_misses", "model_calls_saved", "decode_failures_by_reason", "tenant", "workers", "scope", "snapshot_expiry_seconds")
    class DecodeFailuresByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    REDIS_MODE_FIELD_NUMBER: _ClassVar[int]
    REDIS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    DECODE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    SINGLEFLIGHT_JOINS_FIELD_NUMBER: _ClassVar[int]
    KEY_LATENCY_FIELD_NUMBER: _ClassVar[int]
    KEY_BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHUNK_HITS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_MISSES_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_SAVED_FIELD_NUMBER: _ClassVar[int]
    DECODE_FAILURES_BY_REASON_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_EXPIRY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[TierCounts]
    hit_ratio: float
    memory_entries: int
    memory_bytes: int
    memory_max_bytes: int
    redis_mode: str
    redis_available: bool
    compression_ratio: float
    decode_failures: int
    singleflight_joins: int
    key_latency: _containers.RepeatedCompositeFieldContainer[KeyLatency]
    key_backend: str
    provider_circuit: str
    model: str
    chunk_hits: int
    chunk_misses: int
    model_calls_saved: int
    decode_failures_by_reason: _containers.ScalarMap[str, int]
    tenant: str
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStats]
    scope: str
    snapshot_expiry_seconds: float
    def __init__(self, counts: _Optional[_Iterable[_Union[TierCounts, _Mapping]]] = ..., hit_ratio: _Optional[float] = ..., memory_entries: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., memory_max_bytes: _Optional[int] = ..., redis_mode: _Optional[str] = ..., redis_available: _Optional[bool] = ..., compression_ratio: _Optional[float] = ..., decode_failures: _Optional[int] = ..., singleflight_joins: _Optional[int] = ..., key_latency: _Optional[_Iterable[_Union[KeyLatency, _Mapping]]] = ..., key_backend: _Optional[str] = ..., provider_circuit: _Optional[str] = ..., model: _Optional[str] = ..., chunk_hits: _Optional[int] = ..., chunk_misses: _Optional[int] = ..., model_calls_saved: _Optional[int] = ..., decode_failures_by_reason: _Optional[_Mapping[str, int]] = ..., tenant: _Optional[str] = ..., workers: _Optional[_Iterable[_Union[WorkerStats, _Mapping]]] = ..., scope: _Optional[str] = ..., snapshot_expiry_seconds: _Optional[float] = ...) -> None: ...

class InvalidateCacheRequest(_message.Message):
    __slots__ = ("operation", "request", "all")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    request: ProcessRequest
    all: bool
    def __init__(self, operation: _Optional[_Union[Operation, str]] = ..., request: _Optional[_Union[ProcessRequest, _Mapping]] = ..., all: _Optional[bool] = ...) -> None: ...

class InvalidateCacheResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...
