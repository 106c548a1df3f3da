"""The five operations: names, options, limits and cache TTLs in one table.

Everything that needs to know about an operation (validation, cache keys,
ListOperations, the processors, the UI) reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitext.v1 import aitext_pb2 as pb


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    default: int
    min_value: int
    max_value: int
    description: str


@dataclass(frozen=True, slots=True)
class OperationSpec:
    enum: int
    # Lower-case name used in cache keys, metrics and config ("key_points").
    name: str
    description: str
    requires_question: bool
    # The ProcessRequest oneof field that carries this operation's options.
    options_field: str | None
    options: tuple[OptionSpec, ...]
    default_ttl_seconds: int

    def effective_options(self, given: dict[str, int]) -> dict[str, int]:
        """Defaults applied, so {} and {max_length: 100} mean the same request."""
        return {o.name: given.get(o.name, o.default) for o in self.options}


OPERATIONS: tuple[OperationSpec, ...] = (
    OperationSpec(
        enum=pb.OPERATION_SUMMARIZE,
        name="summarize",
        description="A summary of the text within max_length words.",
        requires_question=False,
        options_field="summarize_options",
        options=(OptionSpec("max_length", 100, 10, 1000, "Upper bound on the summary's length in words."),),
        default_ttl_seconds=7200,
    ),
    OperationSpec(
        enum=pb.OPERATION_SENTIMENT,
        name="sentiment",
        description="Sentiment label, confidence (0..1) and a short explanation.",
        requires_question=False,
        options_field=None,
        options=(),
        default_ttl_seconds=86400,
    ),
    OperationSpec(
        enum=pb.OPERATION_KEY_POINTS,
        name="key_points",
        description="The text's most important points.",
        requires_question=False,
        options_field="key_points_options",
        options=(OptionSpec("max_points", 5, 1, 20, "How many key points at most."),),
        default_ttl_seconds=7200,
    ),
    OperationSpec(
        enum=pb.OPERATION_QUESTIONS,
        name="questions",
        description="Questions about the text's content.",
        requires_question=False,
        options_field="questions_options",
        options=(OptionSpec("num_questions", 5, 1, 20, "How many questions to write."),),
        default_ttl_seconds=3600,
    ),
    OperationSpec(
        enum=pb.OPERATION_QA,
        name="qa",
        description="Answers a question from the text.",
        requires_question=True,
        options_field=None,
        options=(),
        default_ttl_seconds=1800,
    ),
)

BY_ENUM: dict[int, OperationSpec] = {op.enum: op for op in OPERATIONS}
BY_NAME: dict[str, OperationSpec] = {op.name: op for op in OPERATIONS}
OPTIONS_FIELDS: frozenset[str] = frozenset(op.options_field for op in OPERATIONS if op.options_field)
