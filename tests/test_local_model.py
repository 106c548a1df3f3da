"""The offline `local` model gives meaningful results, through the same agents a remote model uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aitext.config import Settings
from aitext.processing import local
from aitext.processing import processor as processor_module
from aitext.processing.local import text as local_text
from aitext.processing.local.sentiment import sentiment as local_sentiment
from aitext.processing.processor import AgentProcessor, build_processor
from aitext.processing.results import (
    AnswerResult,
    KeyPointsResult,
    QuestionsResult,
    SentimentResult,
    SummaryResult,
)

pytestmark = pytest.mark.unit

TEXTS = Path(__file__).parent / "data" / "texts"


def text(name: str) -> str:
    return (TEXTS / f"{name}.txt").read_text(encoding="utf-8")


def flat(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def words(value: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", value)}


@pytest.fixture(scope="module")
def processor() -> AgentProcessor:
    return build_processor(Settings(model="local"))


@pytest.mark.parametrize("name", ["apollo11", "coral_reefs", "review_negative", "review_positive", "timetable"])
@pytest.mark.parametrize("max_length", [10, 25, 60, 1000])
async def test_summary_is_made_of_the_texts_sentences_within_max_length(
    processor: AgentProcessor, name: str, max_length: int
) -> None:
    source = flat(text(name))
    result = await processor.run("summarize", text(name), {"max_length": max_length}, "")
    assert isinstance(result, SummaryResult)
    assert len(result.summary.split()) <= max_length
    sentences = local_text.split_sentences(result.summary)
    assert sentences
    for sentence in sentences:
        assert sentence in source, sentence
    # Sentences keep the order they have in the text.
    positions = [source.index(s) for s in sentences]
    assert positions == sorted(positions)


async def test_summary_picks_central_sentences(processor: AgentProcessor) -> None:
    result = await processor.run("summarize", text("apollo11"), {"max_length": 40}, "")
    assert isinstance(result, SummaryResult)
    assert {"apollo", "moon"} <= words(result.summary) or {"armstrong", "lunar"} <= words(result.summary)
    short = await processor.run("summarize", text("apollo11"), {"max_length": 200}, "")
    assert isinstance(short, SummaryResult)
    assert len(short.summary.split()) > len(result.summary.split())


async def test_a_single_long_sentence_is_cut_at_a_word_boundary(processor: AgentProcessor) -> None:
    sentence = " ".join(f"word{i}" for i in range(50)) + "."
    result = await processor.run("summarize", sentence, {"max_length": 10}, "")
    assert isinstance(result, SummaryResult)
    assert result.summary.endswith("…")
    assert len(result.summary.split()) <= 10
    assert sentence.startswith(result.summary.rstrip("…"))


async def test_negative_review_is_negative(processor: AgentProcessor) -> None:
    result = await processor.run("sentiment", text("review_negative"), {}, "")
    assert isinstance(result, SentimentResult)
    assert result.label == "negative"
    assert result.confidence >= 0.6
    # The explanation names words of the review that drove the verdict.
    named = re.findall(r"“([^”]+)”", result.explanation)
    assert named and all(w in text("review_negative").lower() for w in named)
    assert {"terrible", "worst"} & set(named)


async def test_positive_review_is_positive(processor: AgentProcessor) -> None:
    result = await processor.run("sentiment", text("review_positive"), {}, "")
    assert isinstance(result, SentimentResult)
    assert result.label == "positive"
    assert result.confidence >= 0.6
    assert {"love", "excellent", "great"} & set(re.findall(r"“([^”]+)”", result.explanation))


async def test_factual_notice_is_neutral(processor: AgentProcessor) -> None:
    result = await processor.run("sentiment", text("timetable"), {}, "")
    assert isinstance(result, SentimentResult)
    assert result.label == "neutral"


def test_non_english_text_gets_no_made_up_sentiment() -> None:
    german = (Path(__file__).parent / "data" / "ordinary" / "german.txt").read_text(encoding="utf-8")
    assert "die" in german.split()  # an article in German, a negative verb to an English lexicon
    result = local_sentiment(german)
    assert result["label"] == "neutral"
    assert "English" in result["explanation"]


def test_negation_is_named_in_the_explanation() -> None:
    result = local_sentiment("The hotel was not good. The room was not clean and the staff was not friendly.")
    assert result["label"] == "negative"
    assert "“not good”" in result["explanation"]


@pytest.mark.parametrize(
    ("name", "question", "holds_answer"),
    [
        ("apollo11", "Where did the crew splash down?", "splashed down in the Pacific Ocean"),
        ("apollo11", "How many people watched the first step?", "650 million people"),
        ("apollo11", "Who flew the command module?", "Michael Collins flew the command module"),
        ("apollo11", "Why did the guidance computer raise alarms?", "overloaded with data"),
        ("apollo11", "When did Eagle land?", "Eagle on July 20, 1969"),
        ("coral_reefs", "What are the microscopic algae in corals called?", "zooxanthellae"),
        ("coral_reefs", "How much coral cover has been lost?", "about half of the world's coral cover"),
        ("coral_reefs", "When did the Great Barrier Reef suffer mass bleaching?", "2016, 2017 and 2020"),
        ("coral_reefs", "What is coral bleaching?", "corals expel their algae and turn white"),
        ("timetable", "Which platform does the train to Lindenberg leave from?", "platform 4"),
        ("timetable", "How long does the journey take?", "48 minutes"),
        ("timetable", "Where can tickets be bought?", "machines in the main hall"),
    ],
)
async def test_qa_returns_the_sentence_holding_the_answer(
    processor: AgentProcessor, name: str, question: str, holds_answer: str
) -> None:
    result = await processor.run("qa", text(name), {}, question)
    assert isinstance(result, AnswerResult)
    assert holds_answer in result.answer
    assert result.answer in flat(text(name))


async def test_qa_without_an_answer_says_so(processor: AgentProcessor) -> None:
    result = await processor.run("qa", text("timetable"), {}, "What is the capital of Peru?")
    assert isinstance(result, AnswerResult)
    assert "does not contain an answer" in result.answer


@pytest.mark.parametrize("name", ["apollo11", "coral_reefs", "review_negative"])
@pytest.mark.parametrize("max_points", [1, 3, 6])
async def test_key_points_are_distinct_informative_sentences(
    processor: AgentProcessor, name: str, max_points: int
) -> None:
    result = await processor.run("key_points", text(name), {"max_points": max_points}, "")
    assert isinstance(result, KeyPointsResult)
    assert 1 <= len(result.points) <= max_points
    assert len(set(result.points)) == len(result.points)
    source = flat(text(name))
    for point in result.points:
        assert point.rstrip("…") in source
        assert len(point.split()) >= 4  # sentences, not headings or fragments


async def test_key_points_reflect_the_content(processor: AgentProcessor) -> None:
    result = await processor.run("key_points", text("review_negative"), {"max_points": 4}, "")
    assert isinstance(result, KeyPointsResult)
    joined = " ".join(result.points).lower()
    assert "worst" in joined or "rude" in joined
    assert "cracked" in joined or "lukewarm" in joined


@pytest.mark.parametrize("name", ["apollo11", "coral_reefs", "timetable", "review_positive"])
@pytest.mark.parametrize("num_questions", [1, 5, 8])
async def test_questions_are_about_the_texts_content(processor: AgentProcessor, name: str, num_questions: int) -> None:
    result = await processor.run("questions", text(name), {"num_questions": num_questions}, "")
    assert isinstance(result, QuestionsResult)
    assert 1 <= len(result.questions) <= num_questions
    assert len({q.lower() for q in result.questions}) == len(result.questions)
    vocabulary = words(text(name))
    generic = {"what", "does", "the", "text", "say", "about", "how", "describe", "why", "matter", "in", "is", "said"}
    for question in result.questions:
        assert question.endswith("?")
        content = words(question) - generic
        assert content and content <= vocabulary | {"was", "were", "are", "like", "when", "where"}, question


async def test_questions_name_the_texts_subjects(processor: AgentProcessor) -> None:
    result = await processor.run("questions", text("apollo11"), {"num_questions": 8}, "")
    assert isinstance(result, QuestionsResult)
    joined = " ".join(result.questions)
    assert "Apollo 11" in joined
    assert "the landing site" in joined


async def test_local_model_is_deterministic(processor: AgentProcessor) -> None:
    for operation, options in [("summarize", {"max_length": 30}), ("questions", {"num_questions": 5})]:
        first = await processor.run(operation, text("coral_reefs"), options, "")
        again = await build_processor(Settings(model="local")).run(operation, text("coral_reefs"), options, "")
        assert first == again


async def test_agents_are_built_once_not_per_request(
    processor: AgentProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_new_agents(*args: object, **kwargs: object) -> None:
        raise AssertionError("an Agent was built on the request path")

    monkeypatch.setattr(processor_module, "Agent", no_new_agents)
    result = await processor.run("summarize", text("timetable"), {"max_length": 30}, "")
    assert isinstance(result, SummaryResult)


async def test_local_model_reports_its_name_and_never_trips_the_breaker(processor: AgentProcessor) -> None:
    assert processor.model_name == "local"
    assert processor.circuit_state == "closed"
    assert len(processor.prompt_version) == 12


def test_prompt_version_follows_the_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    from aitext.processing import prompts

    before = build_processor(Settings(model="local")).prompt_version
    monkeypatch.setitem(prompts.TASKS, "summarize", prompts.TASKS["summarize"] + " Be brief.")
    assert build_processor(Settings(model="local")).prompt_version != before
    monkeypatch.undo()
    monkeypatch.setattr(local, "ALGORITHM_VERSION", local.ALGORITHM_VERSION + "-next")
    assert build_processor(Settings(model="local")).prompt_version != before
    monkeypatch.undo()
    from aitext.processing import safety

    monkeypatch.setattr(safety, "RULES", safety.RULES + "one more pattern")
    assert build_processor(Settings(model="local")).prompt_version != before


async def test_multi_megabyte_text(processor: AgentProcessor) -> None:
    parts = [text(n) for n in ("apollo11", "coral_reefs", "timetable", "review_positive")]
    big = "\n\n".join(parts * 800)  # about 3 MB
    assert len(big.encode()) > 3_000_000
    summary = await processor.run("summarize", big, {"max_length": 80}, "")
    assert isinstance(summary, SummaryResult)
    assert 0 < len(summary.summary.split()) <= 80
    for sentence in local_text.split_sentences(summary.summary):
        assert sentence in flat("\n\n".join(parts))
    answer = await processor.run("qa", big, {}, "How long does the journey take?")
    assert isinstance(answer, AnswerResult) and "48 minutes" in answer.answer
    # qa reads every sentence, not a sample: one needle in the middle of 3 MB is found.
    middle = len(big) // 2
    needle = "The spare vault key is kept by the harbour master, Ilse Brandt."
    haystack = big[:middle] + "\n\n" + needle + "\n\n" + big[middle:]
    found = await processor.run("qa", haystack, {}, "Who keeps the spare vault key?")
    assert isinstance(found, AnswerResult) and found.answer == needle
    sentiment = await processor.run("sentiment", big, {}, "")
    assert isinstance(sentiment, SentimentResult) and "sampled from" in sentiment.explanation


def test_sentence_splitting_keeps_abbreviations_and_lists_apart() -> None:
    sample = (
        "Dr. Smith met Mr. Jones at 9 a.m. in the lab. They talked.\n\n- first item\n- second item\n# Heading\nBody."
    )
    assert local_text.split_sentences(sample) == [
        "Dr. Smith met Mr. Jones at 9 a.m. in the lab.",
        "They talked.",
        "- first item",
        "- second item",
        "# Heading",
        "Body.",
    ]


def test_text_without_punctuation_is_cut_into_bounded_pieces() -> None:
    blob = "token " * 100_000
    pieces = local_text.split_sentences(blob)
    assert len(pieces) > 1 and all(len(p) <= local_text.MAX_SENTENCE_CHARS for p in pieces)
