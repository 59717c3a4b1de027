"""Domains meet only through the shell (CONTRIBUTING.md: "A domain never imports another domain";
portal/facts.py is where they exchange facts), and the shell imports no domain: checked on the
source, so a new import across the line fails here rather than in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.domains import DOMAINS

ROOT = Path(__file__).resolve().parents[2]
# The capabilities: every domain package outside the shell (portal.* are the shell's own parts).
CAPABILITIES = [d for d in DOMAINS if not d.startswith("portal.")]


def _imports(package: str) -> dict[str, set[str]]:
    """Each module file of ``package`` and the modules it imports (anywhere in the file)."""
    found: dict[str, set[str]] = {}
    for path in ROOT.joinpath(*package.split(".")).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_capabilities_are_the_domains_listed() -> None:
    assert {"api.certificates", "api.complaints", "search", "notices", "credit"} <= set(
        CAPABILITIES
    )


def test_no_domain_imports_another() -> None:
    crossings = [
        f"{path} imports {module}"
        for domain in CAPABILITIES
        for path, modules in _imports(domain).items()
        for module in modules
        for other in CAPABILITIES
        if other != domain and _within(module, other)
    ]
    assert crossings == []


def test_the_shell_imports_no_domain() -> None:
    crossings = [
        f"{path} imports {module}"
        for path, modules in _imports("portal").items()
        for module in modules
        for domain in CAPABILITIES
        if _within(module, domain)
    ]
    assert crossings == []
