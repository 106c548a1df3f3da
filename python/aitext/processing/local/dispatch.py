"""The one place that picks an operation's local algorithm: from the operations table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aitext.operations import BY_NAME


def compute(operation: str, options: Mapping[str, int], question: str, document: str) -> dict[str, Any]:
    """The output tool's arguments for one operation."""
    spec = BY_NAME.get(operation)
    if spec is None:
        raise ValueError(f"unknown operation {operation!r}")
    return spec.local_algorithm(document, options, question)
