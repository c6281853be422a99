"""The ingest's fast path past ``KumoLogRecord`` validation, for records that need no coercion.

:func:`fast` accepts a decoded JSON record only when every model field in it already holds a
value of an exact type its annotation names (``int`` is not ``bool``, an ``int`` field does not
take ``1.0``, ``list[str]`` holds only strings) and every required field is there. Such a record
is valid, and the model would hold the very values the record holds. Anything else returns None
and the model decides: it may coerce (``"5"`` for an ``int``) or refuse with its usual error, so
what is accepted and every error message stay the model's. The table of types is read from
``KumoLogRecord`` itself, so a field added there is checked here; a shape this module does not
know sends every record that has that field to the model.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, Union, get_args, get_origin

from kumowatch_common.events import KumoLogRecord


class Facts(NamedTuple):
    """What the ingest reads of one valid record, holding the values ``KumoLogRecord`` holds.

    A NamedTuple, not a frozen dataclass: one is built per record on the ingest hot path, and a
    frozen dataclass costs four times as much to construct.
    """

    type: str
    id: str
    timestamp: int | float
    queue: str | None
    nodeid: str | None
    response: dict[str, Any] | None

    @classmethod
    def of(cls, record: KumoLogRecord) -> Facts:
        """The facts of a record the model validated."""
        return cls(
            record.type, record.id, record.timestamp, record.queue, record.nodeid, record.response
        )


_NONE: Final = type(None)


def _kinds(annotation: Any) -> frozenset[type] | None:
    """The exact JSON types that ``annotation`` takes unchanged; None for a shape not known here."""
    union = get_origin(annotation) in (Union, types.UnionType)
    out: set[type] = set()
    for arg in get_args(annotation) if union else (annotation,):
        if arg in (str, int, float, _NONE):
            out.add(arg)
        elif get_origin(arg) is dict and get_args(arg) == (str, Any):
            out.add(dict)  # decoded JSON: keys are strings, values anything
        elif get_origin(arg) is list and get_args(arg) == (str,):
            out.add(list)  # items checked in fast()
        else:
            return None
    return frozenset(out)


def _table() -> tuple[Mapping[str, frozenset[type]], frozenset[str], frozenset[str]]:
    """Allowed types per field, required fields, fields whose presence sends a record to the model."""
    allowed: dict[str, frozenset[type]] = {}
    unknown: set[str] = set()
    for name, info in KumoLogRecord.model_fields.items():
        kinds = _kinds(info.annotation)
        if info.alias not in (None, name) or kinds is None:
            unknown.add(name)
        elif not info.is_required() and info.default is not None:
            unknown.add(name)  # an absent field would read None here, the default there
        else:
            allowed[name] = kinds
    required = frozenset(n for n, i in KumoLogRecord.model_fields.items() if i.is_required())
    return allowed, required, frozenset(unknown)


_ALLOWED, _REQUIRED, _UNKNOWN = _table()
ENABLED: Final = KumoLogRecord.model_config.get("extra") == "allow" and not (
    _UNKNOWN & set(Facts._fields)
)


def _verdict(doc: dict[str, Any]) -> tuple[str, ...] | None:
    """The list fields whose items fast() checks, or None if the model must decide."""
    if not ENABLED or not doc.keys() >= _REQUIRED or not _UNKNOWN.isdisjoint(doc):
        return None
    lists: list[str] = []
    for key, value in doc.items():
        kinds = _ALLOWED.get(key)
        if kinds is None:
            continue  # an unknown field, kept as received
        kind = type(value)
        if kind not in kinds:
            return None
        if kind is list:
            lists.append(key)
    return tuple(lists)


class FastCheck:
    """:func:`fast` with the verdict remembered per record shape (field names and value types).

    One sender's records mostly share a few shapes, and looking a shape up costs less than half
    of checking it field by field. At most ``shapes`` are kept; a full table starts over.
    """

    def __init__(self, shapes: int = 1024) -> None:
        self.shapes = shapes
        self._verdicts: dict[tuple[Any, ...], tuple[str, ...] | None] = {}

    def __call__(self, doc: dict[str, Any]) -> Facts | None:
        """The facts of ``doc`` (a decoded JSON object) if valid as it stands, else None."""
        shape = (*doc, *map(type, doc.values()))
        try:
            lists = self._verdicts[shape]
        except KeyError:
            if len(self._verdicts) >= self.shapes:
                self._verdicts.clear()
            lists = self._verdicts[shape] = _verdict(doc)
        if lists is None:
            return None
        for key in lists:
            if not all(type(item) is str for item in doc[key]):
                return None
        return Facts(
            doc["type"],
            doc["id"],
            doc["timestamp"],
            doc.get("queue"),
            doc.get("nodeid"),
            doc.get("response"),
        )


fast: Final = FastCheck()
"""The shared checker: ``fast(doc)`` is the facts of a record valid as it stands, or None."""
