"""The validator API's tap schema checks exactly wire.Tap's fields: the record is defined once."""

from __future__ import annotations

import dataclasses

import pytest

from api.schemas import validator as schemas
from tests.unit.wire.test_records import TAP_JSON
from wire import Tap


def test_the_schema_has_the_records_fields_in_its_order() -> None:
    names = [field.name for field in dataclasses.fields(Tap)]
    assert list(schemas.TapSchema().fields) == names
    assert list(TAP_JSON) == names  # the protocol's example shows every field too


def test_the_protocols_example_loads_into_the_same_record_the_wire_reads() -> None:
    assert schemas.TapSchema().load(TAP_JSON) == Tap.from_json(TAP_JSON)


def test_a_field_without_a_rule_stops_the_api_from_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = dict(schemas._TAP_RULES)
    del rules["card_tx"]
    rules["fare_zone"] = rules["stop_id"]
    monkeypatch.setattr(schemas, "_TAP_RULES", rules)
    with pytest.raises(TypeError, match=r"no rule for \['card_tx'\].*\['fare_zone'\]"):
        schemas._tap_fields()
