"""Imports point down: the executors run studies but never import the study module.

``Study.optimize`` builds an executor, so an executor that imported ``nas.study`` (even
inside a function) would close a circle. The worker side of a trial, which loads studies,
is :mod:`nas.worker`, above both; executors start it by name. The check follows every
import that runs (module level or inside functions; ``if TYPE_CHECKING:`` blocks are for
type checkers only) through our own packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("nas", "storage", "search_spaces", "proxies")


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def runtime_imports(name: str) -> set[str]:
    """The modules of our packages that ``name`` imports when it runs (parents included)."""
    path = _module_file(name)
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    out = set()
    for m in found:
        if m.split(".")[0] in OURS:
            parts = m.split(".")
            out.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(runtime_imports(m) - seen)
    return seen


def executor_modules() -> list[str]:
    return [f"nas.executors.{p.stem}" for p in sorted((ROOT / "nas" / "executors").glob("*.py"))
            if p.stem != "__init__"] + ["nas.executors"]


def test_no_executor_module_reaches_the_study_or_the_worker_module() -> None:
    for name in executor_modules():
        reached = reachable(name)
        assert "nas.study" not in reached and "nas.worker" not in reached, (
            f"{name} imports (through {sorted(reached & {'nas.study', 'nas.worker'})}) the study: "
            "executors must take the study they run, not import it"
        )


def test_the_check_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    """The walker itself: nas.worker imports nas.study at module level, nas.study imports
    the executors inside Study.optimize, and nas.executors.base names Study for types only."""
    assert "nas.study" in runtime_imports("nas.worker")
    assert "nas.executors" in runtime_imports("nas.study")
    assert "nas.study" not in runtime_imports("nas.executors.base")
    assert "nas.study" in reachable("nas.worker") and "nas.executors.base" in reachable("nas.study")
