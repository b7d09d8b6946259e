"""The IVR served by `hotline serve` to a real Asterisk, with real prompts and missing ones.

Each citizen (tests/fixtures/asterisk/extensions.conf, caller-sim `presses-2`) presses 2 twice,
5 s apart, and stays on the line; after the IVR the dialplan sends `UserEvent: IvrDone` with
AGISTATUS (FAILURE if our server dropped the call) and the IVR_CHOICE it left behind.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from hotline.config import Config, IvrMenu
from tests.asterisk.conftest import Asterisk, Daemon, Observer, config_for

pytestmark = pytest.mark.asterisk

ENGLISH_MENUS = (
    IvrMenu(hotline="12345", welcome="hello-world", prompt="beep", thanks="auth-thankyou",
            digit_timeout=10.0),
    IvrMenu(hotline="12319", welcome="hello", prompt="if-correct-press", thanks="goodbye",
            digit_timeout=10.0),
)


async def ivr_outcomes(
    asterisk: Asterisk, config: Config, hotlines: list[str]
) -> dict[str, dict[str, str]]:
    """`hotline serve` with `config` answers a call to each of `hotlines` at once; the IvrDone
    fields of each call, by hotline."""
    running = await Daemon(config).ready()
    observer = await Observer(config.pbxs[0]).ready()
    try:
        await asyncio.gather(*(asterisk.originate(hotline, "presses-2") for hotline in hotlines))
        outcomes = {}
        for _ in hotlines:
            done = await observer.event(
                lambda e: e["Event"] == "UserEvent" and e["UserEvent"] == "IvrDone", timeout=40
            )
            outcomes[done.fields["Channel"].split("@")[0].removeprefix("Local/")] = done.fields
        await asterisk.hang_up_all()
    finally:
        await observer.close()
        await running.close()
    return outcomes


def played(log: str, hotline: str) -> list[str]:
    """The sound files Asterisk played on the hotline side of `hotline`'s call, in order."""
    # res_agi.c (STREAM FILE) and file.c (GET DATA's prompt) both log at verbose level 3:
    # <Local/12345@hotline-in-00000000;2> Playing 'hello-world.slin' (escape_digits=) ...
    return re.findall(
        rf"<Local/{hotline}@hotline-in-[0-9a-f]+;2> Playing '([^'.]+)\.\w+' .*\(language 'en'\)",
        log,
    )


async def test_each_hotline_hears_its_own_menu_of_real_english_prompts(
    asterisk, english_sounds, database_url, tmp_path
):
    config = config_for(asterisk, database_url, tmp_path, ivr_menus=ENGLISH_MENUS)
    outcomes = await ivr_outcomes(asterisk, config, ["12345", "12319"])

    assert {hotline: (o["AGISTATUS"], o["IVR_CHOICE"]) for hotline, o in outcomes.items()} == {
        "12345": ("SUCCESS", "2"), "12319": ("SUCCESS", "2"),
    }
    log = asterisk.log
    assert played(log, "12345") == ["hello-world", "beep", "auth-thankyou"]
    assert played(log, "12319") == ["hello", "if-correct-press", "goodbye"]
    assert "does not exist" not in log


async def test_missing_prompts_are_logged_once_and_the_menu_goes_on(
    asterisk, english_sounds, database_url, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="callflows")
    menus = (IvrMenu(welcome="hotline-no-such-welcome", prompt="hotline-no-such-menu",
                     thanks="auth-thankyou", digit_timeout=10.0),)
    config = config_for(asterisk, database_url, tmp_path, ivr_menus=menus)
    outcomes = await ivr_outcomes(asterisk, config, ["12345", "12319"])

    # Neither call was taken for a hang-up: the choice was still made, the menu played out to
    # its closing message and VERBOSE line. AGISTATUS is FAILURE all the same: res_agi.c's
    # STREAM FILE returns RESULT_FAILURE for a file it cannot open, which marks the script
    # failed although the channel lives on (GET DATA's missing prompt does not).
    assert {hotline: (o["AGISTATUS"], o["IVR_CHOICE"]) for hotline, o in outcomes.items()} == {
        "12345": ("FAILURE", "2"), "12319": ("FAILURE", "2"),
    }
    log = asterisk.log
    assert played(log, "12345") == played(log, "12319") == ["auth-thankyou"]
    assert log.count("ivr: IVR finished, choice 2") == 2
    assert log.count("File hotline-no-such-welcome does not exist") == 2
    warnings = [record.getMessage() for record in caplog.records
                if getattr(record, "action", None) == "agi-prompt-missing"
                and record.levelno == logging.WARNING]
    assert [message.split(" (first seen")[0] for message in warnings] == [
        "prompt 'hotline-no-such-welcome' (language en) does not exist on the PBX; call flows "
        "go on without it",
        "prompt 'hotline-no-such-menu' (language en) does not exist on the PBX; call flows go "
        "on without it",
    ]
    assert "hung up" not in caplog.text


async def test_a_caller_hanging_up_during_a_prompt_is_a_hang_up_not_a_missing_prompt(
    asterisk, english_sounds, database_url, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="callflows")
    config = config_for(asterisk, database_url, tmp_path)
    running = await Daemon(config).ready()
    observer = await Observer(config.pbxs[0]).ready()
    try:
        await asterisk.originate("12345", "hold")
        # The citizen hangs up while the welcome (hello-world, 1.4 s) is playing.
        await observer.event(lambda e: e["Event"] == "AGIExecStart"
                             and e["Command"].startswith("STREAM FILE hello-world"))
        await asterisk.hang_up_all()
        await observer.event(lambda e: e["Event"] == "Hangup" and e["Channel"].endswith(";2"))
    finally:
        await observer.close()
        await running.close()  # lets the IVR's session end within the FastAGI grace

    assert "hung up during 'STREAM FILE hello-world \"\"'" in caplog.text
    assert "does not exist" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING
                and record.name.startswith("callflows")]
