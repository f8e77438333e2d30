"""The base of every pipeline's typed state (``search.state``, ``curate.state``,
``distill.state``): a frozen dataclass of small values and store keys that goes through
XCom as plain JSON and comes back as itself."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any, Self


class JsonState:
    """asdict/from_dict for a flat dataclass; the nested ones override from_dict."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    def but(self, **changes: Any) -> Self:
        return replace(self, **changes)  # type: ignore[type-var]
