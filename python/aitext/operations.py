"""The five operations in one table: names, enums, options, limits, TTLs, prompts, result types, local algorithms.

Everything that needs to know about an operation (validation, cache keys,
settings, ListOperations, the agents and their prompts, the local model, the
CLI, the UI through ListOperations) reads it from here. A new operation is a
row here plus what the row points at: its messages in the proto, its result
type in processing/results.py and its algorithm in processing/local/.

This module imports only leaf modules (the generated messages, the result
types, the algorithms), so everything else can import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aitext.processing import results
from aitext.processing.local import key_points, qa, questions, sentiment, summarize
from aitext.v1 import aitext_pb2 as pb

# (document, options, question) -> the output tool's arguments, as a remote model would send them.
LocalAlgorithm = Callable[[str, Mapping[str, int], str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    default: int
    min_value: int
    max_value: int
    description: str


@dataclass(frozen=True, slots=True)
class OperationSpec:
    enum: pb.Operation
    # Lower-case name used in cache keys, metrics and config ("key_points").
    name: str
    description: str
    requires_question: bool
    # The ProcessRequest oneof field that carries this operation's options.
    options_field: str | None
    options: tuple[OptionSpec, ...]
    default_ttl_seconds: int
    # What the model must return; it also bounds the output and fills the response.
    result_type: type[results.OperationResult]
    # The model's task, after the instructions every operation shares (processing/prompts.py).
    task: str
    # The output tool the model answers with: (name, description).
    output_tool: tuple[str, str]
    local_algorithm: LocalAlgorithm

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
        result_type=results.SummaryResult,
        task=(
            "Write a summary of the document in at most max_length words (see Parameters), "
            "in the document's own language, keeping its most important facts."
        ),
        output_tool=("submit_summary", "Submit the summary."),
        local_algorithm=summarize.run,
    ),
    OperationSpec(
        enum=pb.OPERATION_SENTIMENT,
        name="sentiment",
        description="Sentiment label, confidence (0..1) and a short explanation.",
        requires_question=False,
        options_field=None,
        options=(),
        default_ttl_seconds=86400,
        result_type=results.SentimentResult,
        task=(
            "Classify the overall sentiment of the document as positive, negative or neutral, give your confidence "
            "between 0 and 1, and explain briefly which words or statements drove the judgement."
        ),
        output_tool=("submit_sentiment", "Submit the sentiment label, confidence and explanation."),
        local_algorithm=sentiment.run,
    ),
    OperationSpec(
        enum=pb.OPERATION_KEY_POINTS,
        name="key_points",
        description="The text's most important points.",
        requires_question=False,
        options_field="key_points_options",
        options=(OptionSpec("max_points", 5, 1, 20, "How many key points at most."),),
        default_ttl_seconds=7200,
        result_type=results.KeyPointsResult,
        task=(
            "List the document's most important points, at most max_points of them (see Parameters), "
            "each one short and self-contained."
        ),
        output_tool=("submit_key_points", "Submit the key points."),
        local_algorithm=key_points.run,
    ),
    OperationSpec(
        enum=pb.OPERATION_QUESTIONS,
        name="questions",
        description="Questions about the text's content.",
        requires_question=False,
        options_field="questions_options",
        options=(OptionSpec("num_questions", 5, 1, 20, "How many questions to write."),),
        default_ttl_seconds=3600,
        result_type=results.QuestionsResult,
        task="Write num_questions questions (see Parameters) that the document answers, about its actual content.",
        output_tool=("submit_questions", "Submit the questions."),
        local_algorithm=questions.run,
    ),
    OperationSpec(
        enum=pb.OPERATION_QA,
        name="qa",
        description="Answers a question from the text.",
        requires_question=True,
        options_field=None,
        options=(),
        default_ttl_seconds=1800,
        result_type=results.AnswerResult,
        task=(
            "Answer the question using only the document. Quote or closely paraphrase the passage that holds the "
            "answer; if the document does not answer it, say so."
        ),
        output_tool=("submit_answer", "Submit the answer."),
        local_algorithm=qa.run,
    ),
)

BY_ENUM: dict[int, OperationSpec] = {op.enum: op for op in OPERATIONS}
BY_NAME: dict[str, OperationSpec] = {op.name: op for op in OPERATIONS}
OPTIONS_FIELDS: frozenset[str] = frozenset(op.options_field for op in OPERATIONS if op.options_field)
