"""The inbound IVR (`AGI(agi://127.0.0.1:4573/ivr)` in context hotline-in): one menu digit.

The dialog is capture c-hotline-inbound-call.1.agi.sent: ANSWER, read HOTLINE and the caller
number, welcome, GET DATA for one digit, SET VARIABLE IVR_CHOICE, a closing message, VERBOSE.
The sounds come from the menu configured for the call's hotline and language (`[[ivr.menu]]`).
The choice goes back to the dialplan in IVR_CHOICE (empty when the caller chose nothing valid);
what it leads to (queue, case) is the dialplan's and the daemon's business, not the flow's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from callflows.fastagi import AgiSession
from callflows.prompts import menu_for
from hotline.config import IvrMenu

logger = logging.getLogger(__name__)

CHOICE_VARIABLE = "IVR_CHOICE"


class Ivr:
    """The IVR with the configured menus, served as the FastAGI script `ivr`."""

    def __init__(self, menus: Iterable[IvrMenu]) -> None:
        self.menus = tuple(menus)

    async def __call__(self, session: AgiSession) -> str | None:
        """Run the menu on the channel; return the digit chosen (also set in IVR_CHOICE) or None."""
        await session.answer()
        hotline = await session.get_variable("HOTLINE")
        caller = await session.get_full_variable("${CALLERID(num)}")
        menu = menu_for(self.menus, hotline, session.language)
        await session.stream_file(menu.welcome)
        digits = await session.get_data(menu.prompt, round(menu.digit_timeout * 1000), 1)
        choice = digits if digits is not None and digits in menu.choices else None
        await session.set_variable(CHOICE_VARIABLE, choice or "")
        await session.stream_file(menu.thanks, menu.thanks_escape)
        outcome = f"choice {choice}" if choice else "no choice"
        await session.verbose(f"IVR finished, {outcome}")
        logger.info("IVR on %s (hotline %s, caller %s): %s", session.channel, hotline, caller,
                    outcome, extra={"action": "ivr-finished"})
        return choice
