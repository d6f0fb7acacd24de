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


def test_what_the_sandbox_guarded_is_guarded_before_the_code_runs():
    """Workflow code runs without the SDK's sandbox (worker/sandbox.py says why): ruff's banned-api keeps clocks,
    randomness, the environment, files, sockets, threads, caches and real sleeps out of every module of
    workflows/, and nowhere else is it asked (the rest of the code may use them)."""
    import tomllib

    config = tomllib.loads((WORKFLOWS.parent / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    banned = set(config["flake8-tidy-imports"]["banned-api"])
    assert "TID251" in config["select"] and config["per-file-ignores"]["!workflows/**"] == ["TID251"]
    assert {
        "datetime.datetime.now",
        "datetime.date.today",
        "time",
        "random",
        "secrets",
        "uuid.uuid4",
        "os",
        "pathlib",
        "socket",
        "subprocess",
        "threading",
        "functools.lru_cache",
        "asyncio.sleep",
    } <= banned


def test_the_worker_and_every_replay_run_workflow_code_the_same_way():
    """One runner (worker/sandbox.py) for the worker, `earlyhelp replay` and the golden histories' replay."""
    from temporalio.worker import UnsandboxedWorkflowRunner

    from worker.sandbox import workflow_runner

    assert isinstance(workflow_runner(), UnsandboxedWorkflowRunner)
    root = WORKFLOWS.parent
    for path in ("worker/main.py", "starter/ops/histories.py", "tests/histories/ends.py"):
        assert "workflow_runner()" in (root / path).read_text(), path
