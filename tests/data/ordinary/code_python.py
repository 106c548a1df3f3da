from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Inventory:
    """Counts items per SKU; negative stock is a bug, not a feature."""

    items: dict[str, int] = field(default_factory=dict)

    def add(self, sku: str, qty: int = 1) -> None:
        if qty <= 0:
            raise ValueError(f"qty must be positive, got {qty!r}")
        self.items[sku] = self.items.get(sku, 0) + qty

    def to_json(self) -> str:
        # Sorted keys so the output is stable across runs: {"a": 1, "b": 2}
        return json.dumps(self.items, sort_keys=True)


if __name__ == "__main__":
    inv = Inventory()
    inv.add("A-100", 3)
    inv.add("B-7")
    print(inv.to_json() if inv.items else "<empty>")  # prints {"A-100": 3, "B-7": 1}
    assert "A-100" in inv.items and inv.items["A-100"] == 3, "lost stock | check add()"
