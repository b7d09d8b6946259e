"""The IVR's sound files and timings, as data: a hotline's menu is configuration, not code.

File names are Asterisk sound names (no extension, looked up in the channel's language).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Menu:
    """One hotline's menu: a welcome, a prompt for one digit, and a closing message."""

    welcome: str
    prompt: str
    thanks: str
    choices: frozenset[str]
    digit_timeout_ms: int = 5000
    # Digits that cut the closing message short (the caller need not hear it out).
    thanks_escape: str = "#"


DEFAULT_MENU = Menu(
    welcome="hello-world",
    prompt="beep",
    thanks="auth-thankyou",
    choices=frozenset("123"),
)

# HOTLINE channel variable -> menu; a hotline not listed gets DEFAULT_MENU.
MENUS: dict[str, Menu] = {
    "12345": DEFAULT_MENU,
    "12319": DEFAULT_MENU,
}
