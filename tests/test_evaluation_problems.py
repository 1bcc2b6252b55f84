"""Validation problems: one readable "field.path: message" line per problem."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from evaluation.problems import (
    FieldProblem,
    explained,
    field_path,
    field_problems,
    problem_lines,
)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(min_length=1, max_length=5)]
    tags: Annotated[tuple[StrictStr, ...], Field(min_length=2)] = ("a", "b")


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[tuple[Item, ...], Field(min_length=1)]
    rates: dict[str, Annotated[StrictInt, Field(ge=0)]] = {}
    size: Annotated[Literal["s", "m"], explained("must be one of: s, m", show_input=True)] = "s"


def _problems(data: object, root: str = "") -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Order.model_validate(data)
    return problem_lines(caught.value, root=root)


@pytest.mark.parametrize(
    ("loc", "root", "path"),
    [
        ((), "", ""),
        ((), "body", "body"),
        (("questions", 0, "key_points"), "", "questions[0].key_points"),
        (("realtime", "gpt-realtime", "text_in"), "", "realtime.gpt-realtime.text_in"),
        ((0, "name"), "", "[0].name"),
        ((0, "name"), "items", "items[0].name"),
        (("rubric", "good"), "template", "template.rubric.good"),
    ],
)
def test_field_paths(loc: tuple[int | str, ...], root: str, path: str) -> None:
    assert field_path(loc, root=root) == path


def test_every_problem_is_one_line_with_its_path() -> None:
    data = {
        "items": [{"name": "", "tags": ["x", 3]}, {"name": "toolong", "colour": "red"}, 7],
        "rates": {"gpt-realtime": -1, "mini": "2"},
        "size": "xl",
        "extra": True,
    }
    assert _problems(data) == [
        "items[0].name: must be a non-empty string",
        "items[0].tags[1]: must be a string",
        "items[1].name: must be at most 5 characters",
        "items[1].colour: unknown field",
        "items[2]: must be an object",
        "rates.gpt-realtime: must be >= 0",
        "rates.mini: must be a whole number",
        "size: must be one of: s, m; got 'xl'",
        "extra: unknown field",
    ]


def test_root_prefixes_every_path_and_names_the_whole_input() -> None:
    assert _problems({}, root="order") == ["order.items: required"]
    assert _problems([], root="order") == ["order: must be an object"]
    assert _problems([]) == ["must be an object"]


def test_collection_sizes() -> None:
    assert _problems({"items": []}) == ["items: must be a non-empty list"]
    assert _problems({"items": [{"name": "a", "tags": ["x"]}]}) == [
        "items[0].tags: must have at least 2 entries"
    ]


def test_a_tuple_is_not_called_short_because_its_items_failed() -> None:
    # pydantic also reports "too short" here, counting only the valid items.
    assert _problems({"items": [{"name": 1}]}) == ["items[0].name: must be a string"]


def test_problems_keep_path_and_message_apart_and_carry_no_links() -> None:
    with pytest.raises(ValidationError) as caught:
        Order.model_validate({"items": "none", "size": None})
    problems = field_problems(caught.value)
    assert problems == [
        FieldProblem("items", "must be a list"),
        FieldProblem("size", "must be one of: s, m; got None"),
    ]
    assert str(FieldProblem("", "must be an object")) == "must be an object"
    assert not any("http" in line for line in problem_lines(caught.value))
