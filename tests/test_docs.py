"""docs/contract.md and docs/domain.md are the project's own references (nothing outside the repository):
the contract lists every name the workflow answers to, as the code defines them."""

from __future__ import annotations

import re
from pathlib import Path

from workflows import pathway
from workflows.models import CaseOutcome, Referral, SafeguardingConcern, Snapshot, Stage

DOCS = Path(__file__).parent.parent / "docs"


def test_the_contract_lists_every_update_with_its_fields():
    rows = {
        m[1]: set(re.findall(r"`(\w+)`", m[2]))
        for m in re.finditer(r"^\| `(\w+)` \| (.*?) \|", (DOCS / "contract.md").read_text(), re.M)
    }
    assert rows == {step.name: set(model.model_fields) - {"by"} for model, step in pathway.STEPS.items()}


def test_the_contract_names_every_field_of_the_start_signal_queries_and_result_and_every_stage():
    text = (DOCS / "contract.md").read_text()
    named = set(re.findall(r"`(\w+)`", text))
    for model in (Referral, SafeguardingConcern, Snapshot, CaseOutcome):
        assert set(model.model_fields) <= named, model.__name__
    assert {s.value for s in Stage} <= named


def test_the_domain_cites_only_the_sources_it_lists():
    text = (DOCS / "domain.md").read_text()
    listed = set(re.findall(r"^\| `\[(\d{3})\]` \|", text, re.M))
    assert listed == {"000", "001", "002", "003", "004"}
    assert set(re.findall(r"\[(\d{3})\]", text)) == listed
