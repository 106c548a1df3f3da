"""The local model as a pydantic-ai FunctionModel: it reads the prompt a remote model would get."""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from aitext import offload
from aitext.processing import prompts
from aitext.processing.local.dispatch import compute


def _last_user_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    raise ValueError("no user prompt in the request")


def compute_from_prompt(message: str) -> dict[str, Any]:
    """The output tool's arguments for a user prompt, parsed here too (where offload.run sends it)."""
    operation, options, question, document = prompts.parse_user_message(message)
    return compute(operation, options, question, document)


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """FunctionModel entry point on the caller's thread: read the request like a remote model would."""
    (tool,) = info.output_tools
    args = compute_from_prompt(_last_user_prompt(messages))
    return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args=args)])


async def respond_off_the_loop(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """`respond`, with the parsing and computing in the offload pool when the text is long (the loop serves on)."""
    message = _last_user_prompt(messages)
    (tool,) = info.output_tools
    args = await offload.run(compute_from_prompt, message, size=len(message))
    # Given a usage, pydantic-ai does not estimate one: a regex split of the whole prompt, on the loop.
    usage = RequestUsage(input_tokens=len(message) // 4 + 1, output_tokens=1)
    return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args=args)], usage=usage)


def local_model() -> FunctionModel:
    return FunctionModel(respond_off_the_loop, model_name="local")
