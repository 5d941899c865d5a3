"""YAML reading keeps values as typed and knows where each one stands."""

from __future__ import annotations

import pytest

from generator.errors import InventoryError
from generator.yamlfile import dotted, loads


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22:22", "22:22"),  # YAML 1.1 reads base 60: 1342
        ("0123", "0123"),  # YAML 1.1 reads octal: 83
        ("on", "on"),
        ("no", "no"),
        ("y", "y"),
        ("0x1F", "0x1F"),
        ("1_000", "1_000"),
        ("2026-01-05", "2026-01-05"),  # YAML 1.1 reads a date object
        ("5000", 5000),
        ("-3", -3),
        ("0", 0),
        ("0.05", 0.05),
        (".5", 0.5),
        ("1e3", "1e3"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ('"5000"', "5000"),
        ("'on'", "on"),
    ],
)
def test_plain_scalars_resolve_by_a_narrow_rule_set(text, expected):
    value = loads(f"key: {text}\n", "t.yaml").data["key"]

    assert value == expected
    assert type(value) is type(expected)


def test_positions_are_recorded_for_keys_and_items():
    located = loads("a:\n  b:\n    - x\n    - y: 1\n", "t.yaml")

    assert located.where(("a", "b")) == (2, 3)
    assert located.where(("a", "b", 1, "y")) == (4, 7)
    # A path that is not in the document falls back to its nearest ancestor.
    assert located.where(("a", "b", 1, "missing")) == (4, 7)


def test_duplicate_keys_are_reported_at_the_second_one():
    with pytest.raises(InventoryError) as caught:
        loads("a: 1\nb: 2\na: 3\n", "dup.yaml")

    assert str(caught.value) == "dup.yaml:3:1: a: duplicate key 'a'"


def test_broken_yaml_is_located():
    with pytest.raises(InventoryError) as caught:
        loads("a: [1, 2\nb: 3\n", "broken.yaml")

    problem = caught.value.problems[0]
    assert problem.file == "broken.yaml"
    assert problem.line == 2
    assert "not valid YAML" in problem.message


def test_merge_keys_are_refused():
    with pytest.raises(InventoryError, match="keys must be text"):
        loads("base: &b {x: 1}\nother:\n  <<: *b\n", "merge.yaml")


def test_dotted_paths_read_like_the_document():
    assert dotted(("services", 3, "thresholds", "error_ratio")) == (
        "services[3].thresholds.error_ratio"
    )


def test_an_alias_inside_its_own_anchor_is_refused_not_followed():
    with pytest.raises(InventoryError) as caught:
        loads("a: &x [1, *x]\n", "cycle.yaml")

    assert str(caught.value) == (
        "cycle.yaml:1:4: a[1]: an alias refers to a value that contains it"
    )


def test_aliases_that_expand_past_the_limit_are_refused():
    text = "a: &a [1, 2, 3, 4]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"

    assert len(loads(text, "ok.yaml", max_values=200).data["c"]) == 4
    with pytest.raises(InventoryError, match="more than 50 values once aliases"):
        loads(text, "laughs.yaml", max_values=50)


def test_custom_tags_are_refused():
    with pytest.raises(InventoryError) as caught:
        loads("port: !env PORT\n", "tags.yaml")

    assert str(caught.value) == "tags.yaml:1:7: port: YAML tag '!env' is not supported"
