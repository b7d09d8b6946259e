"""Console passwords and the brake on guessing them. Pure: no I/O, the clock is an argument.

Passwords are hashed with scrypt (RFC 7914), a memory-hard KDF in the standard library, so a
leaked users table costs an attacker memory as well as time per guess. The parameters are
stored with each hash, so raising them later keeps old hashes verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

# OWASP Password Storage Cheat Sheet, scrypt: N=2^15, r=8, p=3 is one of its equivalent
# minimums (32 MiB per hash). 2^17 would be 128 MiB per sign-in, too much for a daemon that
# must keep taking calls while a shift signs in at 08:00.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 3
_KEY_BYTES = 32
# hashlib refuses anything above maxmem; 128 * r * N bytes plus headroom.
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_problem(password: str) -> str | None:
    """Why `password` cannot be set, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$key` for `password`, with a fresh 16-byte salt unless one is given."""
    salt = secrets.token_bytes(16) if salt is None else salt
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                         maxmem=_MAXMEM, dklen=_KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


# Verified when the user is unknown or has no password, so that a wrong name takes as long as
# a wrong password and the timing does not tell which names exist.
_DUMMY = hash_password("no such user", salt=b"\0" * 16)


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored` (None: no password set, never matches)."""
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY).split("$")
        expected = _unb64(key)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=max(_MAXMEM, 256 * int(r) * int(n)), dklen=len(expected))
    except ValueError:
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(actual, expected)


@dataclass
class Throttle:
    """At most `limit` failures per key within `window` seconds; then the key waits.

    One throttle is kept per user name and one per client address: a guesser spreading over
    many names is stopped by the address, one spreading over many addresses by the name.
    """

    limit: int
    window: float
    # Keys kept at most; past it the stalest are forgotten (a flood of made-up names must not
    # grow the daemon's memory without bound).
    capacity: int = 100_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, key: str, now: float) -> float:
        """Seconds `key` must wait before it may try again (0: it may try now)."""
        failures = self._failures.get(key)
        if failures is None:
            return 0.0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + self.window - now

    def failed(self, key: str, now: float) -> None:
        """Count a failure of `key` at `now`."""
        if key not in self._failures and len(self._failures) >= self.capacity:
            self._forget_stale(now)
        self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """`key` proved itself: its failures are forgotten."""
        self._failures.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if times[-1] <= now - self.window]:
            del self._failures[key]
        while len(self._failures) >= self.capacity:
            del self._failures[next(iter(self._failures))]
