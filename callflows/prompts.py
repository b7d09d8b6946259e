"""Which IVR menu a call hears: the menus are configuration (`[[ivr.menu]]`, hotline.example.toml).

A menu names Asterisk sound files, so a hotline's menu, or a menu recorded in another language,
changes without a code change.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.config import IvrMenu

ANY = "*"


def menu_for(menus: Iterable[IvrMenu], hotline: str | None, language: str | None) -> IvrMenu:
    """The menu for a call to `hotline` on a channel speaking `language`.

    The most specific menu wins: the hotline's in that language, then the hotline's for any
    language, then the one for any hotline in that language, then the one for any hotline; with
    none of those configured, the built-in `IvrMenu()`.
    """
    matching = [
        menu for menu in menus
        if menu.hotline in (hotline, ANY) and menu.language in (language, ANY)
    ]
    return max(
        matching, key=lambda menu: (menu.hotline != ANY, menu.language != ANY), default=IvrMenu()
    )
