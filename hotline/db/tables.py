"""Tables for users and calls, the kernel's own. Each feature keeps its tables in its `store.py`.

Times are stored as timezone-aware UTC. SQLite has no time zone type, so `UtcDateTime` puts the
zone back on the way out: a naive datetime never reaches the rest of the code.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


# Ids are INTEGER columns: PostgreSQL refuses a larger number in a query rather than find nothing.
MAX_ID = 2**31 - 1


class UtcDateTime(TypeDecorator):
    """A datetime that is always timezone-aware UTC in Python, on SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: hotline stores only aware UTC times")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # Only a SHA-256 of the token is kept: a leaked database does not leak working tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    # A `handler` works for one department (a case department id) and sees only its cases.
    department: Mapped[str | None] = mapped_column(String(64))
    # The console's sign-in password as hotline.passwords.hash_password writes it (scrypt, with
    # its parameters and salt); None: this user signs in with their bearer token only.
    password_hash: Mapped[str | None] = mapped_column(String(200))


class ConsoleSession(Base):
    """A browser signed in to the console: the cookie's token (its SHA-256 only) and its CSRF token.

    Signing out deletes the row, so a copied cookie stops working at once.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    remote: Mapped[str | None] = mapped_column(String(100))


class Call(Base):
    """One call as the tracker sees it: all legs sharing an Asterisk Linkedid on one PBX."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx", "linkedid", name="uq_calls_pbx_linkedid"),
        # The list is ordered and paged by (started_at, id); each filter of the API reads its
        # own index in that order (see docs/scale.md).
        Index("ix_calls_started_at_id", "started_at", "id"),
        Index("ix_calls_caller_started_at", "caller_number", "started_at", "id"),
        Index("ix_calls_hotline_started_at", "hotline", "started_at", "id"),
        Index("ix_calls_disposition_started_at", "disposition", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    hotline: Mapped[str | None] = mapped_column(String(32))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_seconds: Mapped[float | None]
    talk_seconds: Mapped[float | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(100))
    queue: Mapped[str | None] = mapped_column(String(80))
    agent: Mapped[str | None] = mapped_column(String(120))
    recording: Mapped[str | None] = mapped_column(Text)
    survey_case: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]

    legs: Mapped[list[CallLeg]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallLeg.created_at"
    )
    # Loaded with the call in the same query (an outer join on the rating's primary key), so a
    # page of calls costs no extra round trip.
    rated: Mapped[CallRating | None] = relationship(
        primaryjoin="Call.linkedid == foreign(CallRating.linkedid)", viewonly=True, lazy="joined"
    )


class CallRating(Base):
    """The caller's one-key rating of a call, given after the operator hung up
    (callflows/rating.py): 1 satisfied, 2 basically satisfied, 3 dissatisfied.

    Keyed by the call's Asterisk linkedid rather than calls.id: call tracking saves calls in
    batches, and keeps them in memory while the database refuses writes, so a rating can come
    before its call's row; it joins the call whenever the row is there. Linkedids are unique
    across PBXs only if each has its own `systemname` (asterisk.conf), which prefixes them.
    """

    __tablename__ = "call_ratings"

    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The channel that gave the rating (the caller's, AGI's agi_uniqueid).
    uniqueid: Mapped[str] = mapped_column(String(64))
    rating: Mapped[int] = mapped_column(Integer)
    rated_at: Mapped[datetime]


class CallLeg(Base):
    """One Asterisk channel of a call; kept so a restarted daemon can reconcile live calls."""

    __tablename__ = "call_legs"
    __table_args__ = (UniqueConstraint("call_id", "uniqueid", name="uq_call_legs_call_uniqueid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cause: Mapped[int | None] = mapped_column(Integer)
    cause_text: Mapped[str | None] = mapped_column(String(100))

    call: Mapped[Call] = relationship(back_populates="legs")
