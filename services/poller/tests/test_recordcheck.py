"""The ingest's fast path agrees with KumoLogRecord on what it accepts and the values it reads."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from poller_samples import sample

from kumowatch_common.events import KumoLogRecord
from kumowatch_poller import recordcheck
from kumowatch_poller.errors import BadRequestError
from kumowatch_poller.logrecords import check, validate
from kumowatch_poller.recordcheck import Facts, FastCheck

# Values of every JSON type, including ones the model coerces ("5", 5.0, true for an int).
VALUES: list[Any] = [
    None,
    "",
    "x",
    "5",
    "1.5",
    "yesterday",
    0,
    1,
    -7,
    2**40,
    5.0,
    1.5,
    1e300,
    True,
    False,
    [],
    ["a", "b"],
    ["a", 1],
    [None],
    {},
    {"content": "no thanks", "code": 550},
    {"content": 5},
    [{"a": 1}],
]
EXTRA_KEYS = ["bogus", "tls_cipher", "type_", "model_config", "__class__"]


def delivery() -> dict[str, Any]:
    return orjson.loads(sample("04_log_record_delivery.jsonc"))


def typed(facts: Facts) -> list[tuple[type, Any]]:
    """Facts compared with their types: 1 == 1.0 == True must not pass for agreement."""
    return [(type(v), v) for v in facts]


def model_facts(doc: dict[str, Any]) -> Facts | None:
    try:
        return Facts.of(KumoLogRecord.model_validate(doc))
    except ValueError:
        return None


def outcome(fn: Any, docs: list[Any]) -> Any:
    try:
        return [typed(f if isinstance(f, Facts) else Facts.of(f)) for f in fn(docs)]
    except BadRequestError as exc:
        return ("error", exc.message, exc.record, exc.field)


def mutated(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    doc = dict(base)
    names = [*KumoLogRecord.model_fields, *EXTRA_KEYS]
    for name in rng.sample(names, rng.randint(1, 4)):
        if rng.random() < 0.2:
            doc.pop(name, None)
        else:
            doc[name] = rng.choice(VALUES)
    return orjson.loads(orjson.dumps(doc))  # as the ingest sees it: decoded JSON


def test_every_model_field_is_checked_by_the_fast_path() -> None:
    assert recordcheck.ENABLED
    assert not recordcheck._UNKNOWN
    assert set(recordcheck._ALLOWED) == set(KumoLogRecord.model_fields)


def test_a_record_valid_as_it_stands_is_taken_with_the_models_values() -> None:
    doc = delivery()
    facts = FastCheck()(doc)
    assert facts is not None
    assert typed(facts) == typed(Facts.of(KumoLogRecord.model_validate(doc)))


@pytest.mark.parametrize(
    ("field", "value", "model_takes"),
    [
        ("size", "1047", True),  # coerced by the model
        ("size", 1047.0, True),
        ("size", True, True),
        ("timestamp", True, True),
        ("timestamp", "1678069691", True),
        ("timestamp", "yesterday", False),
        ("num_attempts", 1.5, False),
        ("recipient", ["a", 5], False),
        ("recipient", 5, False),
        ("response", "250 OK", False),
        ("response", [], False),
        ("id", None, False),
        ("id", 5, False),
        ("type", ["Delivery"], False),
        ("queue", 5, False),
    ],
)
def test_anything_needing_coercion_or_refused_is_left_to_the_model(
    field: str, value: Any, model_takes: bool
) -> None:
    doc = delivery() | {field: value}
    assert FastCheck()(doc) is None
    assert (model_facts(doc) is not None) is model_takes


@pytest.mark.parametrize("field", ["type", "id", "timestamp"])
def test_a_missing_required_field_is_left_to_the_model(field: str) -> None:
    doc = delivery()
    del doc[field]
    assert FastCheck()(doc) is None


def test_fast_path_agrees_with_the_model_on_random_records() -> None:
    rng = random.Random(20240611)
    base = delivery()
    fast = FastCheck(shapes=64)  # small, so the table also starts over during the run
    taken = declined = 0
    for _ in range(4000):
        doc = mutated(rng, base)
        got = fast(doc)
        want = model_facts(doc)
        if got is None:
            declined += 1
        else:
            taken += 1
            assert want is not None, doc
            assert typed(got) == typed(want), doc
    assert taken > 500
    assert declined > 500


def test_check_and_validate_give_the_same_records_and_the_same_400() -> None:
    rng = random.Random(7)
    base = delivery()
    errors = 0
    for _ in range(300):
        docs: list[Any] = [mutated(rng, base) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.1:
            docs.insert(rng.randrange(len(docs) + 1), rng.choice([5, "text", [], None]))
        got, want = outcome(check, docs), outcome(validate, docs)
        assert got == want, docs
        errors += isinstance(want, tuple)
    assert errors > 30


def test_list_items_are_checked_per_record_not_per_shape() -> None:
    fast = FastCheck()
    assert fast(delivery() | {"recipient": ["a", "b"]}) is not None
    assert fast(delivery() | {"recipient": ["a", 5]}) is None
    assert fast(delivery() | {"recipient": ["a", "c"]}) is not None


def test_shape_table_is_bounded() -> None:
    fast = FastCheck(shapes=3)
    for i in range(10):
        assert fast(delivery() | {f"extra{i}": i}) is not None
        assert len(fast._verdicts) <= 3


def test_the_400_still_names_the_record_and_the_field() -> None:
    docs: list[Any] = [delivery(), delivery() | {"num_attempts": "many"}]
    with pytest.raises(BadRequestError) as info:
        check(docs)
    assert (info.value.record, info.value.field) == (1, "num_attempts")
    assert "num_attempts" in info.value.message
    with pytest.raises(BadRequestError) as info:
        check([delivery(), delivery(), 5])
    assert (info.value.record, info.value.field) == (2, None)
