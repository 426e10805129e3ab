"""Identifiers (engine ids, client order ids, accounts, ...): check_id refuses every whitespace
and non-printable character, naming the field, and accepts the rest of printable ASCII."""

from __future__ import annotations

import pytest

from coordinator.core.refusals import InvalidCommand
from coordinator.core.validation import check_id

ASCII = [chr(code) for code in range(128)]


@pytest.mark.parametrize("character", [c for c in ASCII if c.isspace() or not c.isprintable()])
def test_an_id_with_whitespace_or_a_control_character_is_refused_naming_the_field(
    character: str,
) -> None:
    with pytest.raises(InvalidCommand) as refused:
        check_id("client_order_id", f"ord{character}1")
    assert refused.value.field == "client_order_id"


def test_every_other_printable_ascii_character_is_accepted() -> None:
    for character in ASCII:
        if character.isprintable() and not character.isspace():
            check_id("client_order_id", f"ord{character}1")


def test_a_non_ascii_id_is_refused() -> None:
    with pytest.raises(InvalidCommand):
        check_id("account", "compte-é")
