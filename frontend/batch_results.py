"""Batch results as they stream in: table rows, JSON and CSV."""

import csv
import io
import json
from dataclasses import dataclass, field

import ui
from client import ServiceError

COLUMNS = ["index", "source", "status", "result", "cache", "time_ms", "error"]


@dataclass
class BatchOutcome:
    operation: str
    sources: list[str]
    rows: list[dict] = field(default_factory=list)
    records: list[dict | None] = field(default_factory=list)
    done: int = 0
    error: ServiceError | None = None

    def __post_init__(self) -> None:
        self.rows = [self._row(i, "not run") for i in range(len(self.sources))]
        self.records = [None] * len(self.sources)

    def _row(self, index: int, status: str, **values) -> dict:
        return {
            "index": index,
            "source": self.sources[index],
            "status": status,
            "result": "",
            "cache": "",
            "time_ms": None,
            "error": "",
            **values,
        }

    def add(self, item) -> None:
        index = item.index
        if item.WhichOneof("outcome") == "response":
            response = item.response
            self.rows[index] = self._row(
                index,
                "ok",
                result=ui.result_text(response),
                cache=ui.cache_summary(response.cache),
                time_ms=round(response.processing_time_ms, 1),
            )
            self.records[index] = {"index": index, "source": self.sources[index], "response": ui.to_dict(response)}
        else:
            failed = ServiceError.from_status(item.error, "")
            self.rows[index] = self._row(index, failed.code.name, error=failed.headline)
            self.records[index] = {
                "index": index,
                "source": self.sources[index],
                "error": {
                    "code": failed.code.name,
                    "message": failed.message,
                    "field_violations": failed.field_violations,
                },
            }
        self.done += 1

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def json(self) -> str:
        records = [
            r or {"index": i, "source": s, "status": "not run"}
            for i, (r, s) in enumerate(zip(self.records, self.sources))
        ]
        return json.dumps({"operation": self.operation, "results": records}, indent=2, ensure_ascii=False)
