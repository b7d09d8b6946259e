"""The benchmarks measure what they say: each run of a path starts from nothing."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import SERVER_URL

ROOT = Path(__file__).resolve().parent.parent


async def test_every_run_of_the_ingest_benchmark_starts_from_an_empty_database():
    # Runs 2..N once reused run 1's database: its calls were already "ended" before a byte was
    # streamed. The script checks that each run ended exactly the calls it streamed.
    arguments = ["--calls", "5", "--repeat", "2", "--concurrent", "10"]
    if SERVER_URL:
        arguments += ["--database-url", SERVER_URL]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "ami_ingest.py"), *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert err.decode().count(" x raw") == 2
    assert "median of the runs' ratios" in out.decode()
