"""The inbound IVR (`AGI(agi://127.0.0.1:4573/ivr)` in context hotline-in): one menu digit.

The dialog is capture c-hotline-inbound-call.1.agi.sent: ANSWER, read HOTLINE and the caller
number, welcome, GET DATA for one digit, SET VARIABLE IVR_CHOICE, a closing message, VERBOSE.
The choice goes back to the dialplan in IVR_CHOICE (empty when the caller chose nothing valid);
what it leads to (queue, case) is the dialplan's and the daemon's business, not the flow's.
"""

from __future__ import annotations

import logging

from callflows.fastagi import AgiSession
from callflows.prompts import DEFAULT_MENU, MENUS

logger = logging.getLogger(__name__)

CHOICE_VARIABLE = "IVR_CHOICE"


async def ivr(session: AgiSession) -> str | None:
    """Run the menu on the channel; return the digit chosen (also set in IVR_CHOICE) or None."""
    await session.answer()
    hotline = await session.get_variable("HOTLINE")
    caller = await session.get_full_variable("${CALLERID(num)}")
    menu = MENUS.get(hotline or "", DEFAULT_MENU)
    await session.stream_file(menu.welcome)
    digits = await session.get_data(menu.prompt, menu.digit_timeout_ms, 1)
    choice = digits if digits in menu.choices else None
    await session.set_variable(CHOICE_VARIABLE, choice or "")
    await session.stream_file(menu.thanks, menu.thanks_escape)
    outcome = f"choice {choice}" if choice else "no choice"
    await session.verbose(f"IVR finished, {outcome}")
    logger.info("IVR on %s (hotline %s, caller %s): %s", session.channel, hotline, caller,
                outcome, extra={"action": "ivr-finished"})
    return choice
