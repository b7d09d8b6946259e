"""The caller's rating of an inbound call, `AGI(agi://HOST:PORT/rating)` in context
hotline-rating, once the operator has hung up.

Queue() with option `c` goes on in the dialplan when the callee hangs up and then sets
QUEUESTATUS=CONTINUE (app_queue.c, queue_exec); the shipped dialplan sends only those calls
here. A caller who hangs up first never reaches this flow. One key, as in the callback survey:
1 satisfied, 2 basically satisfied, 3 dissatisfied; no key or another key asks again, at most
twice, and the call stays unrated. The sounds are the call's IVR menu's (`[[ivr.menu]]`
`rating`, `rating_invalid`, `rating_thanks`), chosen by hotline and language like the menu.

The rating is stored under the channel's linkedid (CHANNEL(linkedid)), the key by which call
tracking knows the call (hotline/calls.py), so it lands on the call whichever is saved first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from callflows.fastagi import AgiSession
from callflows.prompts import menu_for
from callflows.survey import ask
from hotline.config import IvrMenu

logger = logging.getLogger(__name__)


class RatingBook(Protocol):
    """Where ratings are stored (hotline.db.calls.CallRatings)."""

    async def rate(self, linkedid: str, uniqueid: str, rating: int) -> None: ...


class Rating:
    """The `rating` FastAGI route."""

    def __init__(self, book: RatingBook, menus: Iterable[IvrMenu]) -> None:
        self.book = book
        self.menus = tuple(menus)

    async def __call__(self, session: AgiSession) -> int | None:
        """Ask for the rating and store it; return it, or None when the caller gave none.

        A hang-up while asking raises ChannelHungUp, which the server logs: nothing stored.
        """
        hotline = await session.get_variable("HOTLINE")
        linkedid = await session.get_full_variable("${CHANNEL(linkedid)}")
        menu = menu_for(self.menus, hotline, session.language)
        rating = await ask(session, menu.rating, menu.rating_invalid, menu.digit_timeout, None)
        if rating is None or not linkedid:
            logger.info("call %s on %s not rated", linkedid, session.channel,
                        extra={"action": "rating-none"})
            return None
        await self.book.rate(linkedid, session.env.get("agi_uniqueid", ""), rating)
        logger.info("call %s rated %d on %s", linkedid, rating, session.channel,
                    extra={"action": "rating-stored"})
        await session.stream_file(menu.rating_thanks, menu.thanks_escape)
        return rating
