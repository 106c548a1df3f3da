"""The input budget of a model, the overhead of a prompt, and the chunk sizes that fit between them.

Budgets are in UTF-8 bytes of prompt (the instructions and the user message), because that is
what a text's size is measured in everywhere else and no tokenizer has to be downloaded. The
defaults estimate 4 bytes per token of English prose and then keep only 3 of them, because code
and non-Latin scripts need more tokens per byte: (context window - output reserve) x 3 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitext.chunking import MIN_BYTES_FLOOR
from aitext.config import ConfigError, Settings
from aitext.operations import BY_NAME, OPERATIONS
from aitext.processing import prompts

BYTES_PER_TOKEN = 3  # of the ~4 an English token takes: the margin for denser scripts and code

# provider family -> (context window, tokens kept for the output), in tokens. Conservative:
# the smallest current model of the family that the service would be pointed at.
FAMILY_WINDOWS: dict[str, tuple[int, int]] = {
    "openai": (128_000, 16_000),  # gpt-4o, gpt-4o-mini, gpt-4.1 (larger) ...
    "anthropic": (200_000, 16_000),  # every Claude 3+ model
    "google": (1_048_576, 65_536),  # Gemini 1.5+ / 2.x, through google-gla or google-vertex
    "other": (32_768, 4_096),  # groq, mistral, OpenAI-compatible servers (Ollama, vLLM ...)
}
_FAMILY_OF_PROVIDER = {
    "openai": "openai",
    "openai-chat": "openai",
    "openai-responses": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "bedrock": "anthropic",
    "google-gla": "google",
    "google-vertex": "google",
    "gemini": "google",
}

# Room kept free in every prompt beyond the measured overhead: neutralised spans and escaped tags
# can make the text a little longer, and a re-ask after invalid output adds a message.
RESERVE_FIXED_BYTES = 512
RESERVE_FRACTION = 16  # plus 1/16 of the budget
# The smallest chunk worth a model call: a few sentences.
MIN_CHUNK_BYTES = 1024
# Intermediate summaries (a chunk's, or a group's on the way up) get this many words per
# byte of chunk target, so that every reduce level shrinks its input several times.
SUMMARY_BYTES_PER_WORD = 40


def family(settings: Settings) -> str:
    """The provider family whose default budget applies to AITEXT_MODEL."""
    if settings.openai_base_url:
        return "other"  # an OpenAI-compatible server is not OpenAI: its window is its own, often small
    provider = settings.model.partition(":")[0]
    return _FAMILY_OF_PROVIDER.get(provider, "other")


def default_budget(settings: Settings) -> int | None:
    if settings.model == "local":
        return None
    window, output = FAMILY_WINDOWS[family(settings)]
    return (window - output) * BYTES_PER_TOKEN


def input_budget(settings: Settings) -> int | None:
    """AITEXT_MODEL_MAX_INPUT_BYTES, else the family's default; None: no limit (local)."""
    if settings.model_max_input_bytes is not None:
        return settings.model_max_input_bytes
    return default_budget(settings)


def reserve(budget: int) -> int:
    return RESERVE_FIXED_BYTES + budget // RESERVE_FRACTION


def overhead(operation: str, options: dict[str, int], question: str) -> int:
    """Bytes of a prompt around an empty document: instructions, header, tags, the question."""
    message = prompts.user_message(operation, "", options, question)
    return len(prompts.instructions(operation).encode()) + len(message.encode())


def room(budget: int, operation: str, options: dict[str, int], question: str) -> int:
    """Bytes of document one prompt of this request can hold."""
    return budget - reserve(budget) - overhead(operation, options, question)


@dataclass(frozen=True, slots=True)
class Plan:
    """Chunk sizes for one request: every chunk (at most max_bytes) fits one prompt."""

    room: int
    target_bytes: int
    min_bytes: int
    max_bytes: int

    @classmethod
    def for_room(cls, room: int) -> Plan:
        # target = max / 2: prose chunks end at a paragraph near the target and do not reach the
        # max, whose cuts depend on the chunk's start and would not survive an edit before them.
        # (On 10 MB of the tests' prose: 711 chunks, none at the max, 99.9% kept after an insert
        # at the start; max / 3 gave 998 chunks, the same stability, 40% more model calls.)
        max_bytes = room
        target = max(max_bytes // 2, MIN_BYTES_FLOOR)
        min_bytes = max(target // 4, MIN_BYTES_FLOOR)
        return cls(room, target, min_bytes, max_bytes)

    def summary_words(self, max_length: int) -> int:
        """max_length of an intermediate summary: at most the request's, small enough to converge."""
        return max(10, min(max_length, self.target_bytes // SUMMARY_BYTES_PER_WORD))


def check(settings: Settings) -> None:
    """ConfigError when the budget cannot hold any operation's prompt plus one minimal chunk."""
    budget = input_budget(settings)
    if budget is None:
        return
    worst = max(OPERATIONS, key=lambda op: overhead(op.name, _widest_options(op.name), ""))
    options = _widest_options(worst.name)
    if room(budget, worst.name, options, "") >= MIN_CHUNK_BYTES:
        return
    smallest = budget
    while room(smallest, worst.name, options, "") < MIN_CHUNK_BYTES:
        smallest += 64
    raise ConfigError(
        f"AITEXT_MODEL_MAX_INPUT_BYTES={budget} is too small for {settings.model}: a {worst.name} prompt needs "
        f"{overhead(worst.name, options, '')} bytes of instructions and framing, {reserve(budget)} bytes of "
        f"reserve and a chunk of at least {MIN_CHUNK_BYTES} bytes; set it to {smallest} or more"
    )


def _widest_options(operation: str) -> dict[str, int]:
    return {o.name: o.max_value for o in BY_NAME[operation].options}
