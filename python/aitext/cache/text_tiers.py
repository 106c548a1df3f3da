"""Text-size tiers: which answers the memory tier admits, and how key latency is broken down."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextTiers:
    small: int
    medium: int
    large: int

    def __post_init__(self) -> None:
        if not self.small <= self.medium <= self.large:
            raise ValueError("text tier thresholds must satisfy small <= medium <= large")

    def of(self, text_len: int) -> str:
        if text_len < self.small:
            return "small"
        if text_len < self.medium:
            return "medium"
        if text_len < self.large:
            return "large"
        return "xlarge"
