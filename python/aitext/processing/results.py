"""Structured outputs of the agents: what a model must return, validated before use.

Each operation's result type (the operations table names it) also knows the
bounds that depend on the request (`checked`), where it goes in a
ProcessResponse (`fill`), and how to read it back out of one (`read`, which the
cache uses to check a stored answer against the same bounds before serving it).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field

from aitext.v1 import aitext_pb2 as pb


class OutputRejected(ValueError):
    """An output outside the request's bounds; the message says what the model should fix."""


class OperationResult(BaseModel):
    @abstractmethod
    def checked(self, options: Mapping[str, int]) -> OperationResult:
        """This output trimmed to the request's bounds; OutputRejected when it cannot be."""

    @abstractmethod
    def fill(self, response: pb.ProcessResponse) -> None:
        """Sets this result's field of the response."""

    @classmethod
    @abstractmethod
    def read(cls, response: pb.ProcessResponse) -> OperationResult:
        """The result `fill` set, validated by this type; ValueError when the response holds another kind."""


def _holds(response: pb.ProcessResponse, field: str) -> None:
    held = response.WhichOneof("result")
    if held != field:
        raise OutputRejected(f"the response holds {held or 'no result'}, not {field}")


class SummaryResult(OperationResult):
    summary: str = Field(min_length=1)

    def checked(self, options: Mapping[str, int]) -> SummaryResult:
        summary = self.summary.strip()
        words = len(summary.split())
        if not summary:
            raise OutputRejected("The summary is empty.")
        if words > options["max_length"]:
            raise OutputRejected(f"The summary has {words} words; write at most {options['max_length']}.")
        return SummaryResult(summary=summary)

    def fill(self, response: pb.ProcessResponse) -> None:
        response.summary = self.summary

    @classmethod
    def read(cls, response: pb.ProcessResponse) -> SummaryResult:
        _holds(response, "summary")
        return cls(summary=response.summary)


SENTIMENT_LABELS = {
    "positive": pb.SENTIMENT_LABEL_POSITIVE,
    "negative": pb.SENTIMENT_LABEL_NEGATIVE,
    "neutral": pb.SENTIMENT_LABEL_NEUTRAL,
}
_LABEL_NAMES = {value: name for name, value in SENTIMENT_LABELS.items()}


class SentimentResult(OperationResult):
    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0.0, le=1.0)
    explanation: str

    def checked(self, options: Mapping[str, int]) -> SentimentResult:
        if not self.explanation.strip():
            raise OutputRejected("Explain the sentiment in a sentence.")
        return SentimentResult(label=self.label, confidence=self.confidence, explanation=self.explanation.strip())

    def fill(self, response: pb.ProcessResponse) -> None:
        response.sentiment.label = SENTIMENT_LABELS[self.label]
        response.sentiment.confidence = self.confidence
        response.sentiment.explanation = self.explanation

    @classmethod
    def read(cls, response: pb.ProcessResponse) -> SentimentResult:
        _holds(response, "sentiment")
        sentiment = response.sentiment
        label = _LABEL_NAMES.get(sentiment.label)
        if label is None:
            raise OutputRejected(f"unknown sentiment label {sentiment.label}")
        return cls(label=label, confidence=sentiment.confidence, explanation=sentiment.explanation)


class KeyPointsResult(OperationResult):
    points: list[str] = Field(min_length=1)

    def checked(self, options: Mapping[str, int]) -> KeyPointsResult:
        points = [p.strip() for p in self.points if p.strip()]
        if not points:
            raise OutputRejected("Give at least one key point.")
        return KeyPointsResult(points=points[: options["max_points"]])

    def fill(self, response: pb.ProcessResponse) -> None:
        response.key_points.points.extend(self.points)

    @classmethod
    def read(cls, response: pb.ProcessResponse) -> KeyPointsResult:
        _holds(response, "key_points")
        return cls(points=list(response.key_points.points))


class QuestionsResult(OperationResult):
    questions: list[str] = Field(min_length=1)

    def checked(self, options: Mapping[str, int]) -> QuestionsResult:
        questions = [q.strip() for q in self.questions if q.strip()]
        if not questions:
            raise OutputRejected("Give at least one question.")
        return QuestionsResult(questions=questions[: options["num_questions"]])

    def fill(self, response: pb.ProcessResponse) -> None:
        response.questions.questions.extend(self.questions)

    @classmethod
    def read(cls, response: pb.ProcessResponse) -> QuestionsResult:
        _holds(response, "questions")
        return cls(questions=list(response.questions.questions))


class AnswerResult(OperationResult):
    answer: str

    def checked(self, options: Mapping[str, int]) -> AnswerResult:
        if not self.answer.strip():
            raise OutputRejected("The answer is empty; say so if the document does not answer the question.")
        return AnswerResult(answer=self.answer.strip())

    def fill(self, response: pb.ProcessResponse) -> None:
        response.answer = self.answer

    @classmethod
    def read(cls, response: pb.ProcessResponse) -> AnswerResult:
        _holds(response, "answer")
        return cls(answer=response.answer)
