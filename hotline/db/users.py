"""Users of the API and their bearer tokens, and who the audit logs name."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from typing import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import ROLES
from hotline.db.tables import ConsoleSession, User
from hotline.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Actor:
    """Whoever an audit entry is about: an API user (from their address), whoever runs a
    `hotline` command, or a part of hotline itself."""

    name: str
    user_id: int | None = None
    role: str | None = None
    remote: str | None = None

    @classmethod
    def of_user(cls, user: User, remote: str | None) -> Actor:
        return cls(name=user.name, user_id=user.id, role=user.role, remote=remote)

    @classmethod
    def at_command_line(cls) -> Actor:
        """Whoever runs a `hotline` command: the database has no user for them, the system does.
        Named by the process's user id, not $USER or $LOGNAME (which anyone can set, and which
        getpass.getuser() reads first); a uid without a name is `uid N`."""
        uid = os.getuid()
        try:
            return cls(f"cli {pwd.getpwuid(uid).pw_name}")
        except KeyError:
            return cls(f"cli uid {uid}")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(session: AsyncSession, name: str, role: str, department: str | None = None) -> str:
    """Create user `name` with `role` (a handler: of `department`) and return their new bearer
    token (shown once, never stored)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", role=role)
    if department is not None and role != "handler":
        raise InvalidInput("--department: only a handler belongs to a department", role=role)
    _check_name(name)
    token = secrets.token_urlsafe(32)
    session.add(
        User(name=name, role=role, token_hash=token_digest(token), created_at=datetime.now(timezone.utc),
             department=department)
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


async def set_password(session: AsyncSession, name: str, password_hash: str) -> User:
    """Give user `name` a console password (already hashed); their open console sessions end."""
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r} (see hotline user list)", name=name)
    user.password_hash = password_hash
    await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    await session.commit()
    return user


async def user_named(session: AsyncSession, name: str) -> User | None:
    """The active user called `name`, or None."""
    return await session.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))


async def open_console_session(
    session: AsyncSession, user: User, lifetime: timedelta, remote: str | None
) -> tuple[str, ConsoleSession]:
    """A new console session for `user`: its cookie token (returned once, stored hashed) and row."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    row = ConsoleSession(user_id=user.id, token_hash=token_digest(token), csrf_token=secrets.token_urlsafe(32),
                         created_at=now, expires_at=now + lifetime, remote=remote)
    session.add(row)
    # Sessions past their expiry are deleted as new ones open: the table holds live ones only.
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    await session.commit()
    return token, row


async def console_session(session: AsyncSession, token: str) -> tuple[User, ConsoleSession] | None:
    """The active user and unexpired console session holding cookie `token`, or None."""
    row = (await session.execute(
        select(User, ConsoleSession)
        .join(ConsoleSession, ConsoleSession.user_id == User.id)
        .where(ConsoleSession.token_hash == token_digest(token), User.disabled_at.is_(None),
               ConsoleSession.expires_at > datetime.now(timezone.utc))
    )).first()
    return None if row is None else (row[0], row[1])


async def end_console_session(session: AsyncSession, session_id: int) -> None:
    """Sign a console session out: its cookie stops working at once."""
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))
    await session.commit()


async def live_console_sessions(session: AsyncSession, ids: set[int]) -> set[int]:
    """Those of console sessions `ids` still signed in and unexpired."""
    return set(await session.scalars(
        select(ConsoleSession.id).where(ConsoleSession.id.in_(ids),
                                        ConsoleSession.expires_at > datetime.now(timezone.utc))
    ))
