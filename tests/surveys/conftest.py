"""Served items as the centre's system exports them, and a way to run `hotline surveys ...`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hotline.cli import main

HEADER = "window,staff,applicant,phone,item,completed_at"


@pytest.fixture
def surveys_cli(database_url, monkeypatch) -> Callable[..., int]:
    """`surveys_cli("import", path)` runs `hotline surveys import PATH` on the test database."""
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)

    def run(*args: str | Path, config: Path | None = None) -> int:
        options = ["--config", str(config)] if config else []
        return main([*options, "surveys", *map(str, args)])

    return run


def write_csv(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding=encoding)
    return path
