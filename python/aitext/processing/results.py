"""Structured outputs of the agents: what a model must return, validated before use."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SummaryResult(BaseModel):
    summary: str = Field(min_length=1)


class SentimentResult(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0.0, le=1.0)
    explanation: str


class KeyPointsResult(BaseModel):
    points: list[str] = Field(min_length=1)


class QuestionsResult(BaseModel):
    questions: list[str] = Field(min_length=1)


class AnswerResult(BaseModel):
    answer: str


Result = SummaryResult | SentimentResult | KeyPointsResult | QuestionsResult | AnswerResult

OUTPUT_TYPES: dict[str, type[BaseModel]] = {
    "summarize": SummaryResult,
    "sentiment": SentimentResult,
    "key_points": KeyPointsResult,
    "questions": QuestionsResult,
    "qa": AnswerResult,
}
