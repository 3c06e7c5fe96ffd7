"""The package's layout: imports run one way (no module reaches itself through its imports, lazy
imports inside functions included), and the lower layers never import the upper ones."""

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for f in (SRC / "ganprior").rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_package else parts)] = (f, is_package)
    return mods


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """module -> the ganprior modules it imports (``from . import x`` counts as importing x)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_package) in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle():
    assert cycles(import_graph()) == []


def _reaches(graph, start: str, prefix: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m != start and m.startswith(prefix):
            return True
        todo.extend(graph.get(m, ()))
    return False


@pytest.mark.parametrize("low, high", [
    ("ganprior.physics", "ganprior.tasks"),          # forward models know no task names
    ("ganprior.baselines", "ganprior.tasks"),        # classical primitives know no task names
    ("ganprior.tasks", "ganprior.pipeline"),
    ("ganprior.inversion", "ganprior.config"),       # solvers take options, not run configurations
    ("ganprior.pipeline", "ganprior.cli"),
    ("ganprior.pipeline", "ganprior.app"),
    ("ganprior.priors", "ganprior.inversion"),
])
def test_lower_layers_do_not_import_upper_ones(low, high):
    graph = import_graph()
    starts = [m for m in graph if m == low or m.startswith(low + ".")]
    assert starts, low
    assert not [m for m in starts if _reaches(graph, m, high)]
