"""The local model as a pydantic-ai FunctionModel: it reads the prompt a remote model would get."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from aitext.processing import prompts
from aitext.processing.local.dispatch import compute


def _last_user_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    raise ValueError("no user prompt in the request")


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """FunctionModel entry point: read the request like a remote model would, answer with the output tool."""
    operation, options, question, document = prompts.parse_user_message(_last_user_prompt(messages))
    (tool,) = info.output_tools
    args = compute(operation, options, question, document)
    return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args=args)])


def local_model() -> FunctionModel:
    return FunctionModel(respond, model_name="local")
