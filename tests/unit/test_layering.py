"""The import rules of DESIGN.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)

# What each package must never import (top-level module names).
FORBIDDEN = {
    "fares": {
        "flask",
        "sqlalchemy",
        "marshmallow",
        "smartcard",
        "cards",
        "readers",
        "transit",
        "api",
        "issuing",
        "wire",
    },
    "cards": {
        "flask",
        "sqlalchemy",
        "marshmallow",
        "smartcard",
        "readers",
        "transit",
        "api",
        "issuing",
        "wire",
    },
    "readers": {"flask", "sqlalchemy", "marshmallow", "transit", "api", "issuing"},
    "transit": {
        "flask",
        "marshmallow",
        "flask_smorest",
        "webargs",
        "smartcard",
        "readers",
        "api",
        "issuing",
    },
    # The backend runs without pyscard and a server has no reader: the issuing station's reader
    # is plugged into the app from issuing/, the one package that joins api/ and readers/; only
    # wsgi.py (and the tests) import it.
    "api": {"readers", "smartcard", "issuing"},
    "issuing": {"sqlalchemy", "marshmallow"},
    # The validator protocol, one definition for both ends: the standard library and nothing of
    # the project, so that the device and the server import it without importing each other.
    "wire": {
        "flask",
        "sqlalchemy",
        "marshmallow",
        "smartcard",
        "cryptography",
        "fares",
        "cards",
        "readers",
        "transit",
        "api",
        "issuing",
    },
}
# The pure packages may import the standard library, each other as DESIGN.md allows, and these.
PURE = {
    "fares": {"fares"},
    "cards": {"cards", "fares", "cryptography"},
    "wire": {"wire"},
}
# A module that may import what its package must not, and why.
ALLOWED = {
    # `python -m fares price` prints the card's fare record, whose bytes are cards/layout.py's.
    ("fares/cli.py", "cards"),
}


def imports_of(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level module) for every import in a file; relative imports name the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).parts[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, package
            elif node.module:
                yield node.lineno, node.module.split(".")[0]


def violations(package: str, root: Path = ROOT) -> list[str]:
    """Every import in `package` that breaks the rules, as file:line: reason."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for line, module in imports_of(path, root):
            if (relative, module) in ALLOWED:
                continue
            where = f"{relative}:{line}"
            if module in FORBIDDEN[package]:
                found.append(f"{where}: {package}/ must not import {module}")
            elif package in PURE and module not in STDLIB | PURE[package]:
                found.append(f"{where}: {package}/ is pure and must not import {module}")
            if module == "smartcard" and relative != "readers/pcsc.py":
                found.append(f"{where}: only readers/pcsc.py may import smartcard")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_keeps_to_its_layer(package: str) -> None:
    assert violations(package) == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("fares", "import flask\n", "fares/bad.py:1: fares/ must not import flask"),
        (
            "fares",
            "from sqlalchemy.orm import Session\n",
            "fares/bad.py:1: fares/ must not import sqlalchemy",
        ),
        ("fares", "import numpy\n", "fares/bad.py:1: fares/ is pure and must not import numpy"),
        (
            "fares",
            "from cards.layout import pack_fare_state\n",
            "fares/bad.py:1: fares/ must not import cards",
        ),
        (
            "cards",
            "\nfrom marshmallow import fields\n",
            "cards/bad.py:2: cards/ must not import marshmallow",
        ),
        ("cards", "import smartcard.System\n", "cards/bad.py:1: cards/ must not import smartcard"),
        (
            "readers",
            "from flask import Flask\n",
            "readers/bad.py:1: readers/ must not import flask",
        ),
        (
            "readers",
            "import sqlalchemy as sa\n",
            "readers/bad.py:1: readers/ must not import sqlalchemy",
        ),
        (
            "readers",
            "import smartcard\n",
            "readers/bad.py:1: only readers/pcsc.py may import smartcard",
        ),
        ("transit", "from flask import g\n", "transit/bad.py:1: transit/ must not import flask"),
        (
            "api",
            "from readers.pcsc import Pcsc\n",
            "api/bad.py:1: api/ must not import readers",
        ),
        ("api", "import smartcard\n", "api/bad.py:1: api/ must not import smartcard"),
        ("api", "import smartcard\n", "api/bad.py:1: only readers/pcsc.py may import smartcard"),
        ("transit", "import issuing\n", "transit/bad.py:1: transit/ must not import issuing"),
        (
            "issuing",
            "from smartcard.System import readers\n",
            "issuing/bad.py:1: only readers/pcsc.py may import smartcard",
        ),
        (
            "wire",
            "import json\nimport requests\n",
            "wire/bad.py:2: wire/ is pure and must not import requests",
        ),
        (
            "wire",
            "from cryptography.hazmat.primitives import hashes\n",
            "wire/bad.py:1: wire/ must not import cryptography",
        ),
        ("wire", "from fares import Tap\n", "wire/bad.py:1: wire/ must not import fares"),
        (
            "wire",
            "from transit.models import TapRecord\n",
            "wire/bad.py:1: wire/ must not import transit",
        ),
        (
            "wire",
            "from readers.journal import Journal\n",
            "wire/bad.py:1: wire/ must not import readers",
        ),
        ("fares", "from wire import Tap\n", "fares/bad.py:1: fares/ must not import wire"),
        ("cards", "import wire.records\n", "cards/bad.py:1: cards/ must not import wire"),
    ],
)
def test_a_forbidden_import_is_reported(
    tmp_path: Path, package: str, source: str, expected: str
) -> None:
    (tmp_path / package).mkdir()
    (tmp_path / package / "bad.py").write_text(source)
    assert expected in violations(package, root=tmp_path)


def test_pyscard_inside_the_pcsc_module_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "readers").mkdir()
    (tmp_path / "readers" / "pcsc.py").write_text("from smartcard.System import readers\n")
    assert violations("readers", root=tmp_path) == []


@pytest.mark.parametrize("package", ["readers", "transit"])
def test_both_ends_of_the_protocol_import_the_one_wire_package(package: str) -> None:
    modules = {
        module for path in (ROOT / package).rglob("*.py") for _, module in imports_of(path, ROOT)
    }
    assert "wire" in modules


def test_the_wire_package_imports_only_the_standard_library() -> None:
    modules = {
        module for path in (ROOT / "wire").rglob("*.py") for _, module in imports_of(path, ROOT)
    }
    assert modules <= STDLIB | {"wire"}, sorted(modules - STDLIB)


def test_nothing_outside_the_tests_imports_them() -> None:
    """The tests may use the product; the product, its benchmarks and scripts never use the
    tests (a benchmark needing a helper from them moves the helper into the product)."""
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{line}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] not in ("tests", ".venv", "instance")
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        for line, module in imports_of(path, ROOT)
        if module == "tests"
    ]
    assert found == []
