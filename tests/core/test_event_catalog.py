"""The event catalogue in docs/formats.md is generated from the payload models and must
match them; every kind has a documented model."""

from __future__ import annotations

from ptaudit.core.events import EVENT_TYPES, EventData
from ptaudit.core.events.catalog import markdown, replace_in
from tests.support import ROOT


def test_docs_catalogue_matches_the_models() -> None:
    text = (ROOT / "docs" / "formats.md").read_text()
    assert replace_in(text) == text, "run: python -m ptaudit.core.events.catalog --write docs/formats.md"
    for kind in EVENT_TYPES:
        assert f"| `{kind}` |" in markdown()


def test_every_kind_is_documented_and_sourced() -> None:
    for kind, model in EVENT_TYPES.items():
        assert issubclass(model, EventData) and model.KIND == kind
        assert model.SOURCE and model.__doc__, kind
        assert "." in kind and kind == kind.lower(), kind
