"""Users of the API and their bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import ROLES
from hotline.db.tables import User
from hotline.errors import InvalidInput, NotFound


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(session: AsyncSession, name: str, role: str) -> str:
    """Create user `name` with `role` and return their new bearer token (shown once, never stored)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", role=role)
    _check_name(name)
    token = secrets.token_urlsafe(32)
    session.add(
        User(name=name, role=role, token_hash=token_digest(token), created_at=datetime.now(timezone.utc))
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise InvalidInput(f"user {name!r} already exists", name=name) from None
    return token


def _check_name(name: str) -> None:
    """Refuse a name that `user list` and the logs could not show as one plain line of its own,
    or that the column cannot hold."""
    if not name.strip():
        raise InvalidInput("a user needs a name")
    # Unicode's C* categories (controls, format characters such as U+202E RIGHT-TO-LEFT
    # OVERRIDE) and the line and paragraph separators: each can start a new line or disguise
    # what a terminal shows.
    for char in name:
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            raise InvalidInput(f"user name {name!r}: a control character U+{ord(char):04X}", name=name)
    limit = User.__table__.c.name.type.length
    if len(name) > limit:
        raise InvalidInput(f"user name {name!r}: {len(name)} characters, at most {limit}", name=name)


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The active user holding `token`, or None."""
    return await session.scalar(
        select(User).where(User.token_hash == token_digest(token), User.disabled_at.is_(None))
    )


async def reissue_token(session: AsyncSession, name: str, role: str) -> str:
    """A new token for user `name` (created with `role` if missing, enabled again if revoked);
    the old token stops working."""
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        return await add_user(session, name, role)
    token = secrets.token_urlsafe(32)
    user.token_hash = token_digest(token)
    user.disabled_at = None
    await session.commit()
    return token


async def list_users(session: AsyncSession) -> Sequence[User]:
    """Every user, revoked ones too, by name."""
    return (await session.scalars(select(User).order_by(User.name))).all()


async def revoke_user(session: AsyncSession, name: str) -> User:
    """Disable user `name`: their token stops working at once (HTTP and open WebSockets).

    Revoking twice keeps the first time. The row stays, so the audit log's names still resolve.
    """
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r} (see hotline user list)", name=name)
    if user.disabled_at is None:
        user.disabled_at = datetime.now(timezone.utc)
        await session.commit()
    return user


async def active_tokens(session: AsyncSession, user_ids: set[int]) -> set[tuple[int, str]]:
    """(user id, token digest) of those of `user_ids` whose token still works."""
    rows = await session.execute(
        select(User.id, User.token_hash).where(User.id.in_(user_ids), User.disabled_at.is_(None))
    )
    return {(id_, digest) for id_, digest in rows}
