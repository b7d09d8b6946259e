"""Load the real Asterisk 22 captures in tests/fixtures/ami (see their README).

A capture's timeline holds both directions of the AMI socket with seconds since connect; this
module cuts what Asterisk sent into messages, each with the time it arrived, so a test can feed
them to the call tracker directly or have the fake Asterisk replay them over TCP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
CAPTURES = ("a-login-ping-logoff", "c-hotline-inbound-call", "d-queue-call-agent-answers",
            "e-callback-survey", "f-queue-call-caller-hangs-up", "g-action-responses",
            "h-queue-caller-abandons")


@dataclass(frozen=True)
class Frame:
    """One message block Asterisk sent, as the exact text between blank lines."""

    t: float
    text: str

    @property
    def fields(self) -> list[tuple[str, str]]:
        pairs = []
        for line in self.text.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                pairs.append((key, value))
            elif line.endswith(":"):
                pairs.append((line[:-1], ""))
        return pairs

    def as_dict(self) -> dict[str, str]:
        """The fields as a dict; a repeated key (Status's `Variable:`) keeps its first value."""
        out: dict[str, str] = {}
        for key, value in self.fields:
            out.setdefault(key, value)
        return out


def received_frames(name: str) -> list[Frame]:
    """Every message Asterisk sent in capture `name`, banner excluded, with its arrival time.

    A message split across two TCP reads is stamped with the time its last part arrived.
    """
    frames: list[Frame] = []
    pending = ""
    banner_seen = False
    for line in (FIXTURES / f"{name}.timeline.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["dir"] != "recv" or record.get("eof"):
            continue
        # The timeline stores bytes as latin-1 text; get the UTF-8 text Asterisk meant back.
        pending += record["data"].encode("latin-1").decode("utf-8")
        if not banner_seen:
            banner, _, pending = pending.partition("\r\n")
            assert banner.startswith("Asterisk Call Manager/"), banner
            banner_seen = True
        while "\r\n\r\n" in pending:
            block, _, pending = pending.partition("\r\n\r\n")
            frames.append(Frame(record["t"], block))
    assert not pending, f"{name}: capture ends inside a message"
    return frames


def raw_bytes(name: str) -> bytes:
    """The exact bytes Asterisk sent on the AMI socket, banner included."""
    return (FIXTURES / f"{name}.ami").read_bytes()
