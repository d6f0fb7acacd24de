"""Workflow code is pure (docs/design.md): no module-level state one workflow thread could change under
another. The imports it may not make (clocks, randomness, I/O) are ruff's banned-api and import-linter's
contracts (pyproject.toml, `make check`); this is what neither sees."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOWS = Path(__file__).parent.parent / "workflows"
MUTABLE_DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
MUTABLE_CALLS = {"list", "dict", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque"}


def mutable_module_state(source: str) -> list[str]:
    """Module-level names bound to a mutable value, and `global` statements."""
    found = []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            value = node.value
            called = value.func if isinstance(value, ast.Call) else None
            name = (
                called.id if isinstance(called, ast.Name) else called.attr if isinstance(called, ast.Attribute) else ""
            )
            if isinstance(value, MUTABLE_DISPLAYS) or name in MUTABLE_CALLS:
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                found.append(f"line {node.lineno}: {ast.unparse(target)}")
    found += [f"line {n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    return found


def test_workflow_code_has_no_module_level_mutable_state():
    found = {f.name: bad for f in sorted(WORKFLOWS.glob("*.py")) if (bad := mutable_module_state(f.read_text()))}
    assert found == {}, "use a tuple, frozenset or MappingProxyType (or state on the workflow instance)"


def test_the_check_sees_each_kind_of_mutable_state():
    source = "A = []\nB: dict = {}\nC = set()\nD = collections.defaultdict(list)\nE = (1,)\ndef f():\n    global A\n"
    assert mutable_module_state(source) == ["line 1: A", "line 2: B", "line 3: C", "line 4: D", "line 7: global A"]


def test_the_sandbox_is_configured_once_and_passes_the_whole_domain_through():
    """worker/sandbox.py is the one place: no workflow module passes imports through itself, and every module of
    workflows/ that defines no workflow is passed through (a new one left out would load afresh in every run)."""
    from worker.sandbox import DOMAIN

    sources = {f.stem: f.read_text() for f in WORKFLOWS.glob("*.py") if f.stem != "__init__"}
    assert not [name for name, source in sources.items() if "imports_passed_through" in source]
    definitions = {name for name, source in sources.items() if "workflow.defn" in source}
    assert definitions == {"case", "delivery", "digest", "mash"}
    assert set(DOMAIN) == set(sources) - definitions
