"""The layout's rule (README, "Layout"): a feature imports the kernel, never another feature; the
kernel imports a feature only where it assembles the whole (the composition root)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FEATURES = ("recordings", "scoring", "callflows", "hotline.cases", "hotline.surveys")
COMPOSITION_ROOT = {"hotline/cli.py", "hotline/daemon.py", "hotline/web/app.py", "hotline/db/schema.py"}


def feature_of(module: str) -> str | None:
    return next((f for f in FEATURES if module == f or module.startswith(f + ".")), None)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            # `from hotline import cases` names a package, as `import hotline.cases` would.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def sources() -> list[Path]:
    return sorted(p for top in ("hotline", "recordings", "scoring", "callflows") for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_no_feature_but_its_own_unless_it_assembles_the_whole(path):
    name = str(path.relative_to(ROOT))
    own = feature_of(name[:-3].replace("/", "."))
    if name in COMPOSITION_ROOT:
        return
    crossing = sorted(m for m in imports(path) if feature_of(m) not in (None, own))
    assert crossing == [], f"{name} ({own or 'kernel'}) imports {crossing}"


def test_the_rule_sees_a_crossing(tmp_path):
    # The check itself: an import from another feature, even inside a function, is found.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from recordings.store import Recording\n    from hotline import surveys\n")
    assert {"recordings.store", "hotline.surveys"} <= imports(module)
