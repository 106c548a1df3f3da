"""Model side of the service: pydantic-ai agents and the offline `local` model.

Contract with the servicer:
- `build_processor(settings) -> Processor`, once per process
- `Processor.model_name`, `Processor.prompt_version` (both go into cache keys)
- `Processor.circuit_state`: "closed", "open" or "half_open"
- `await Processor.run(operation_name, text, options, question, timeout=...) -> Result`
  where options are the effective options (defaults applied) and timeout is
  what is left of the caller's deadline, in seconds
- `ProviderUnavailable` when the provider cannot answer (retries exhausted,
  circuit open, timeout, rejected request, invalid output): the servicer maps
  it to UNAVAILABLE. A Processor never returns a made-up fallback answer.
"""

from aitext.processing.errors import ProviderUnavailable
from aitext.processing.processor import Processor, build_processor
from aitext.processing.results import (
    OUTPUT_TYPES,
    AnswerResult,
    KeyPointsResult,
    QuestionsResult,
    Result,
    SentimentResult,
    SummaryResult,
)

__all__ = [
    "OUTPUT_TYPES",
    "AnswerResult",
    "KeyPointsResult",
    "Processor",
    "ProviderUnavailable",
    "QuestionsResult",
    "Result",
    "SentimentResult",
    "SummaryResult",
    "build_processor",
]
