"""The import graph points one way: each layer imports only the layers below it, and nothing circles."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "classifier"

# Lowest first. A module may import its own layer and those before it, never one after it.
LAYERS = (
    ("config", "fileio", "metrics", "yamlfile", "verdict"),
    ("text",),
    ("crm",),
    ("model",),
    ("checker",),
    ("training",),
    ("qa",),
    ("audit",),
    ("bitrix24",),
    ("service",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every classifier module ``path`` imports, at any depth of the file (function-local ones too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("classifier")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("classifier"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names
                          if (PACKAGE.parent / f"{target}.{a.name}".replace(".", "/")).with_suffix(".py").is_file()
                          or (PACKAGE.parent / f"{target}.{a.name}".replace(".", "/")).is_dir()}
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "classifier" and _layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "classifier"))
def test_no_upward_import(module):
    upward = sorted(m for m in GRAPH[module] if m != "classifier" and _layer(m) > _layer(module))
    assert not upward, f"{module} imports a higher layer: {upward}"


def test_no_import_circle():
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in GRAPH[node]:
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " → ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_checker_can_be_found_by_the_layer_check():
    """The check itself sees imports: the checker imports the text pipeline and the model."""
    assert {"classifier.text.pipeline", "classifier.model.registry"} <= GRAPH["classifier.checker"]
