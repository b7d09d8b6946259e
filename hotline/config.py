"""Configuration: a TOML file, then environment overrides, validated once at start.

Every setting has a default that works with nothing set (SQLite under ./var, Asterisk on
localhost). A bad value stops the daemon with one line naming the key, never a traceback.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotline.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/hotline.db"
ROLES = ("operator", "supervisor", "handler", "admin", "open311")
# The asynchronous driver hotline runs on, per database: the whole daemon is one event loop.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


@dataclass(frozen=True)
class PbxConfig:
    """One Asterisk server, reached over its own AMI connection."""

    name: str = "main"
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "hotline"
    secret: str = field(default="", repr=False)
    ping_interval: float = 10.0
    action_timeout: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0


@dataclass(frozen=True)
class IvrMenu:
    """The inbound IVR's menu for one hotline (the HOTLINE channel variable) and channel
    language, `*` for any: a welcome, a prompt for one digit, and a closing message; and the
    rating the caller is offered after the operator hangs up (`rating`: press 1 satisfied, 2
    basically satisfied, 3 dissatisfied; `rating_invalid` after a key that is none of those;
    `rating_thanks` once rated).

    Sounds are Asterisk sound names: no extension, looked up under the channel's language
    (`sounds/<language>/<name>`), or an absolute path without the extension.
    """

    hotline: str = "*"
    language: str = "*"
    welcome: str = "hello-world"
    prompt: str = "beep"
    thanks: str = "auth-thankyou"
    # The digits that are a choice; any other key, or none within digit_timeout, is no choice.
    choices: str = "123"
    digit_timeout: float = 5.0
    # Keys that cut the closing message short (the caller need not hear it out).
    thanks_escape: str = "#"
    rating: str = "beep"
    rating_invalid: str = "beep"
    rating_thanks: str = "auth-thankyou"


@dataclass(frozen=True)
class CasesConfig:
    """Case deadlines and how cases reach the scores ([cases]); working days unless named."""

    limits: Mapping[str, float] = field(default_factory=dict)  # type -> days, over the defaults
    channel_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    acknowledge_days: float = 1.0
    channel_acknowledge_days: Mapping[str, float] = field(default_factory=lambda: {"12319": 0.5})
    criticism_days: float = 5.0
    soon_days: int = 1
    appeal_days: int = 60  # calendar days a closed case's recordings stay on hold
    office_hours: tuple[str, ...] = ("09:00-12:00", "13:30-17:30")
    timezone: str = "Asia/Shanghai"
    window_rubric: str = "yihuang-window"
    staff_rubrics: tuple[str, ...] = ("yihuang-staff",)
    complaint_item: str = "verified-complaint"
    overdue_item: str = "overdue"


_CASES_KEYS: dict[str, type] = {
    "acknowledge_days": float, "criticism_days": float, "soon_days": int, "appeal_days": int,
    "timezone": str, "window_rubric": str, "complaint_item": str, "overdue_item": str,
}


def _days_table(key: str, table: Any) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: expected a table of name = working days", key=key)
    return {name: _coerce(f"{key}.{name}", value, float) for name, value in table.items()}


def _cases(table: Any) -> CasesConfig:
    if not isinstance(table, dict):
        raise ConfigError("cases: expected a table", key="cases")
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"cases.{key}"
        if key in _CASES_KEYS:
            values[key] = _coerce(dotted, value, _CASES_KEYS[key])
        elif key == "limits":
            values[key] = _days_table(dotted, value)
        elif key == "acknowledge":
            values["channel_acknowledge_days"] = _days_table(dotted, value)
        elif key == "channel_limits":
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected tables of channel", key=dotted)
            values[key] = {channel: _days_table(f"{dotted}.{channel}", days) for channel, days in value.items()}
        elif key in ("office_hours", "staff_rubrics"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{dotted}: expected a list of strings", key=dotted)
            values[key] = tuple(value)
        else:
            raise ConfigError(f"{dotted}: unknown key", key=dotted)
    if values.get("soon_days", 1) < 1 or values.get("appeal_days", 60) < 0:
        raise ConfigError("cases.soon_days must be at least 1 and cases.appeal_days at least 0",
                          key="cases.soon_days" if values.get("soon_days", 1) < 1 else "cases.appeal_days")
    return CasesConfig(**values)


@dataclass(frozen=True)
class SurveyPrompts:
    """The survey's sound files in one language (Asterisk sound names or absolute paths without
    the extension). The defaults are Asterisk's core English sounds, so a bare install speaks."""

    greeting: str = "hello-world"
    attitude: str = "beep"
    efficiency: str = "beep"
    compliance: str = "beep"
    invalid: str = "beep"
    suggestion: str = "beep"
    thanks: str = "auth-thankyou"
    opted_out: str = "vm-goodbye"
    followup: str = "beep"


@dataclass(frozen=True)
class SurveyConfig:
    """`[surveys]`: the weekly callback campaign (docs/surveys.md)."""

    # Dial string of the citizen, `{number}` replaced: PJSIP/{number}@trunk; tests Local/...
    dial: str = "PJSIP/{number}@trunk"
    caller_id: str = '"12345" <12345>'
    context: str = "survey-out"
    exten: str = "s"
    followup_context: str = "followup-out"
    # The follow-up callback (回访) of closed cases: which hotlines' cases (none: no follow-ups),
    # which share of them (1.0: all), closed within how many days.
    followup_types: tuple[str, ...] = ()
    followup_share: float = 1.0
    followup_days: int = 7
    pbx: str = ""  # which [[pbx]] dials; empty: the first
    timezone: str = "Asia/Shanghai"
    calling_hours: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(14), time(17, 30)))
    calling_days: str = "working"
    max_attempts: int = 3
    retry_minutes: float = 120.0
    ring_timeout: float = 45.0
    concurrency: int = 2
    calls_per_minute: float = 6.0
    per_week: int = 5
    lookback_days: int = 30
    quiet_days: int = 90
    opt_out_key: str = "9"
    answer_timeout: float = 6.0
    suggestion_seconds: float = 60.0
    # Where Asterisk writes the spoken suggestion (its view of the recordings spool); empty: the
    # recordings spool itself (Asterisk and hotline on one machine).
    record_dir: str = ""
    language: str = "en"
    # Each dissatisfied citizen is an occurrence of this item for the staff member on these
    # staff rubrics (宜黃 先進個人 績(1): 服務對象不滿意的每次扣5分); empty: none.
    dissatisfied_rubrics: tuple[str, ...] = ("yihuang-staff",)
    dissatisfied_item: str = "dissatisfied"
    prompts: Mapping[str, SurveyPrompts] = field(default_factory=lambda: {"en": SurveyPrompts()})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    # Where calls the database still refuses when the daemon stops are kept; the next start
    # saves them and removes the file.
    unsaved_calls: Path = Path("./var/unsaved-calls.json")
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    # A client has this long to send a request's head (and an idle keep-alive connection stays
    # this long); a request body must arrive within web_body_timeout (an unread one is drained
    # for at most as long).
    web_header_timeout: float = 15.0
    web_body_timeout: float = 30.0
    web_max_connections: int = 1000
    # The console's session cookie: Secure (sent over HTTPS only) when the console is reached
    # through TLS (a reverse proxy in front of hotline), and how long a sign-in lasts.
    web_secure_cookie: bool = False
    web_session_hours: float = 12.0
    # The centre's time zone: the console shows every time in it (an IANA name).
    centre_timezone: str = "Asia/Shanghai"
    # Roles that see callers' numbers masked (138****5678) in the calls and cases API and the console.
    # Supervisors call citizens back (回访), so by default only department handlers are masked.
    masked_roles: tuple[str, ...] = ("handler",)
    # Audit marks from each transcript: a greeting said by the agent within greeting_seconds of
    # the start, phrases every call needs, phrases no call may have (substrings, spaces ignored).
    audit_greetings: tuple[str, ...] = ("您好",)
    audit_greeting_seconds: float = 20.0
    audit_required: tuple[str, ...] = ("感谢您的来电",)
    audit_forbidden: tuple[str, ...] = ("不知道", "不归我们管", "找别人去")
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    recordings_root: Path = Path("./var/recordings")
    recordings_spool: Path = Path("./var/spool")
    vosk_model: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    retention_days: int = 365
    # Dialled extension -> hotline. A call whose HOTLINE channel variable is set wins over this.
    hotlines: Mapping[str, str] = field(
        default_factory=lambda: {"12345": "12345", "68912345": "12345", "12319": "12319"}
    )
    pbxs: tuple[PbxConfig, ...] = (PbxConfig(),)
    # The most specific menu for a call's hotline and language wins; see callflows/prompts.py.
    ivr_menus: tuple[IvrMenu, ...] = (IvrMenu(),)
    cases: CasesConfig = CasesConfig()
    # Queue member (AgentConnect MemberName, or Interface) -> user name: who gets the screen pop.
    agents: Mapping[str, str] = field(default_factory=dict)
    surveys: SurveyConfig = field(default_factory=SurveyConfig)


# (section, key) -> (Config field, type). The file's layout is documented in hotline.example.toml.
_SCALARS: dict[tuple[str, str], tuple[str, type]] = {
    ("database", "url"): ("database_url", str),
    ("database", "unsaved_calls"): ("unsaved_calls", Path),
    ("web", "host"): ("web_host", str),
    ("web", "port"): ("web_port", int),
    ("web", "header_timeout"): ("web_header_timeout", float),
    ("web", "body_timeout"): ("web_body_timeout", float),
    ("web", "max_connections"): ("web_max_connections", int),
    ("web", "secure_cookie"): ("web_secure_cookie", bool),
    ("web", "session_hours"): ("web_session_hours", float),
    ("centre", "timezone"): ("centre_timezone", str),
    ("centre", "masked_roles"): ("masked_roles", tuple),
    ("audit", "greetings"): ("audit_greetings", tuple),
    ("audit", "greeting_seconds"): ("audit_greeting_seconds", float),
    ("audit", "required"): ("audit_required", tuple),
    ("audit", "forbidden"): ("audit_forbidden", tuple),
    ("fastagi", "host"): ("fastagi_host", str),
    ("fastagi", "port"): ("fastagi_port", int),
    ("recordings", "root"): ("recordings_root", Path),
    ("recordings", "spool"): ("recordings_spool", Path),
    ("recordings", "retention_days"): ("retention_days", int),
    ("transcription", "model"): ("vosk_model", Path),
    ("transcription", "workers"): ("workers", int),
}
_PBX_KEYS: dict[str, type] = {
    "name": str,
    "host": str,
    "port": int,
    "username": str,
    "secret": str,
    "ping_interval": float,
    "action_timeout": float,
    "reconnect_min": float,
    "reconnect_max": float,
}
_IVR_MENU_KEYS: dict[str, type] = {
    "hotline": str,
    "language": str,
    "welcome": str,
    "prompt": str,
    "thanks": str,
    "choices": str,
    "digit_timeout": float,
    "thanks_escape": str,
    "rating": str,
    "rating_invalid": str,
    "rating_thanks": str,
}
# An AGI argument ends at whitespace and res_agi.c gives quotes and backslashes a meaning: a
# sound name holding any of them would turn into other arguments, or another command.
_SOUND_NAME = re.compile(r"[^\s\"\\]+")
_SOUNDS = ("welcome", "prompt", "thanks", "rating", "rating_invalid", "rating_thanks")
_DTMF = frozenset("0123456789*#")
_ENV_SCALARS = {
    "HOTLINE_DATABASE_URL": "database.url",
    "HOTLINE_WEB_HOST": "web.host",
    "HOTLINE_WEB_PORT": "web.port",
    "HOTLINE_FASTAGI_HOST": "fastagi.host",
    "HOTLINE_FASTAGI_PORT": "fastagi.port",
    "HOTLINE_RECORDINGS_ROOT": "recordings.root",
    "HOTLINE_RECORDINGS_SPOOL": "recordings.spool",
    "HOTLINE_VOSK_MODEL": "transcription.model",
}
_ENV_PBX = {
    "HOTLINE_AMI_HOST": "host",
    "HOTLINE_AMI_PORT": "port",
    "HOTLINE_AMI_USERNAME": "username",
    "HOTLINE_AMI_SECRET": "secret",
}


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise ConfigError(f"{key}: expected a list of non-empty strings, got {value!r}", key=key)
        return tuple(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}", key=key)
        return value
    if kind is int:
        # A TOML float (8080.5) or a boolean would pass int() and become a different number.
        if isinstance(value, (bool, float)):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}", key=key)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}", key=key) from None
        if key.lower().endswith("port") and not 0 <= number <= 65535:
            raise ConfigError(f"{key}: port {number} is outside 0-65535", key=key)
        return number
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}", key=key)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}", key=key) from None
        # nan compares false with everything (a timer that never fires or fires at once), inf
        # waits forever: TOML and float() accept both.
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"{key}: must be a positive number, got {value!r}", key=key)
        return number
    if not isinstance(value, str) or (kind is str and key.endswith(("host", "url")) and not value):
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}", key=key)
    return Path(value) if kind is Path else value


def _pbx(index: int, table: Any, base: PbxConfig) -> PbxConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"pbx[{index}]: expected a table", key=f"pbx[{index}]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _PBX_KEYS:
            raise ConfigError(f"pbx[{index}].{key}: unknown key", key=f"pbx[{index}].{key}")
        values[key] = _coerce(f"pbx[{index}].{key}", value, _PBX_KEYS[key])
    pbx = replace(base, **values)
    if pbx.reconnect_min > pbx.reconnect_max:
        key = f"pbx[{index}].reconnect_min"
        raise ConfigError(
            f"{key}: {pbx.reconnect_min} is above reconnect_max {pbx.reconnect_max}", key=key
        )
    return pbx


def _check_database_url(url: str) -> None:
    """Refuse a URL hotline cannot run on: a synchronous or missing driver would otherwise fail
    deep inside SQLAlchemy with a traceback."""
    key = "database.url"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{key}: not a database URL (use sqlite+aiosqlite:// or postgresql+asyncpg://)",
                          key=key) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    wanted = ASYNC_DRIVERS.get(backend)
    if wanted is None:
        raise ConfigError(
            f"{key}: unsupported database {backend!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)", key=key
        )
    if driver != wanted:
        raise ConfigError(
            f"{key}: {parsed.drivername}:// uses the {driver} driver; hotline needs {backend}+{wanted}://",
            key=key,
        )
    if importlib.util.find_spec(wanted) is None:
        raise ConfigError(f"{key}: the {wanted} driver is not installed (pip install 'hotline[postgres]')",
                          key=key)


def _ivr_menu(index: int, table: Any) -> IvrMenu:
    where = f"ivr.menu[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table", key=where)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _IVR_MENU_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key", key=f"{where}.{key}")
        values[key] = _coerce(f"{where}.{key}", value, _IVR_MENU_KEYS[key])
    menu = IvrMenu(**values)
    for key in ("hotline", "language", *_SOUNDS):
        if not _SOUND_NAME.fullmatch(getattr(menu, key)):
            raise ConfigError(
                f"{where}.{key}: expected a name without spaces, quotes or backslashes, "
                f"got {getattr(menu, key)!r}",
                key=f"{where}.{key}",
            )
    for key in ("choices", "thanks_escape"):
        keys = getattr(menu, key)
        if not set(keys) <= _DTMF or (key == "choices" and not keys):
            raise ConfigError(f"{where}.{key}: expected phone keys (0-9, * and #), got {keys!r}",
                              key=f"{where}.{key}")
    return menu


def _ivr_menus(section: Any) -> tuple[IvrMenu, ...]:
    if not isinstance(section, dict):
        raise ConfigError("ivr: expected a table", key="ivr")
    for key in section:
        if key != "menu":
            raise ConfigError(f"ivr.{key}: unknown key", key=f"ivr.{key}")
    tables = section.get("menu", [])
    if not isinstance(tables, list):
        raise ConfigError("ivr.menu: expected [[ivr.menu]] tables", key="ivr.menu")
    menus = tuple(_ivr_menu(index, table) for index, table in enumerate(tables))
    seen: set[tuple[str, str]] = set()
    for index, menu in enumerate(menus):
        if (menu.hotline, menu.language) in seen:
            raise ConfigError(
                f"ivr.menu[{index}]: a second menu for hotline {menu.hotline!r} and language "
                f"{menu.language!r}",
                key=f"ivr.menu[{index}]",
            )
        seen.add((menu.hotline, menu.language))
    return menus


_SURVEY_KEYS: dict[str, type] = {
    "dial": str, "caller_id": str, "context": str, "exten": str, "followup_context": str,
    "followup_share": float, "followup_days": int,
    "pbx": str, "timezone": str, "calling_days": str, "max_attempts": int,
    "retry_minutes": float, "ring_timeout": float, "concurrency": int, "calls_per_minute": float,
    "per_week": int, "lookback_days": int, "quiet_days": int, "opt_out_key": str,
    "answer_timeout": float, "suggestion_seconds": float, "record_dir": str, "language": str,
    "dissatisfied_item": str,
}
_HOURS = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


def _calling_hours(text: Any) -> tuple[tuple[time, time], ...]:
    key = "surveys.calling_hours"
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected a string such as \"09:00-12:00,14:00-17:30\"", key=key)
    spans = []
    for part in text.split(","):
        match = _HOURS.fullmatch(part.strip())
        try:
            if match is None:
                raise ValueError
            start = time(int(match[1]), int(match[2]))
            end = time(int(match[3]), int(match[4])) if match.group(3, 4) != ("24", "00") else time.max
        except ValueError:
            raise ConfigError(f"{key}: {part.strip()!r} is not HH:MM-HH:MM", key=key) from None
        if not start < end:
            raise ConfigError(f"{key}: {part.strip()!r} ends before it starts", key=key)
        spans.append((start, end))
    return tuple(sorted(spans))


def _surveys(table: Any) -> SurveyConfig:
    """The `[surveys]` table; small values (a retry after 1 minute) are accepted for testing."""
    if not isinstance(table, dict):
        raise ConfigError("surveys: expected a table", key="surveys")
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"surveys.{key}"
        if key == "calling_hours":
            values[key] = _calling_hours(value)
        elif key in ("holidays", "working_weekends"):
            # One working-day calendar for deadlines and calling days: the cases' State Council
            # notices (hotline cases calendar import), so a holiday is never entered twice.
            raise ConfigError(f"{dotted}: removed; calling days follow the cases' working-day calendar "
                              "(hotline cases calendar import FILE.toml)", key=dotted)
        elif key == "followup_types":
            if not isinstance(value, list) or not set(value) <= {"12345", "12319"}:
                raise ConfigError(f'{dotted}: expected a list of hotlines out of "12345", "12319", got {value!r}',
                                  key=dotted)
            values[key] = tuple(dict.fromkeys(value))
        elif key == "dissatisfied_rubrics":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{dotted}: expected a list of rubric ids", key=dotted)
            values[key] = tuple(dict.fromkeys(value))
        elif key == "prompts":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError(f"{dotted}: expected [surveys.prompts.LANGUAGE] tables", key=dotted)
            prompts = {}
            for language, sounds in value.items():
                unknown = set(sounds) - set(SurveyPrompts.__dataclass_fields__)
                if unknown or not all(isinstance(v, str) and v for v in sounds.values()):
                    raise ConfigError(f"{dotted}.{language}: unknown key or empty sound name "
                                      f"({', '.join(sorted(unknown)) or 'empty value'})",
                                      key=f"{dotted}.{language}")
                prompts[language] = SurveyPrompts(**sounds)
            values[key] = prompts
        elif key in _SURVEY_KEYS:
            kind = _SURVEY_KEYS[key]
            values[key] = _coerce(dotted, value, kind)
            if kind is str and key not in ("pbx", "record_dir") and not values[key]:
                raise ConfigError(f"{dotted}: must not be empty", key=dotted)
        else:
            raise ConfigError(f"{dotted}: unknown key", key=dotted)
    surveys = SurveyConfig(**values)
    for key in ("max_attempts", "concurrency", "per_week", "lookback_days"):
        if getattr(surveys, key) < 1:
            raise ConfigError(f"surveys.{key}: must be at least 1", key=f"surveys.{key}")
    if not 0 < surveys.followup_share <= 1:
        raise ConfigError(f"surveys.followup_share: expected a share above 0 and at most 1, got {surveys.followup_share}",
                          key="surveys.followup_share")
    if surveys.followup_days < 1:
        raise ConfigError("surveys.followup_days: must be at least 1", key="surveys.followup_days")
    if surveys.quiet_days < 0:
        raise ConfigError("surveys.quiet_days: must not be negative", key="surveys.quiet_days")
    if surveys.calling_days not in ("working", "all"):
        raise ConfigError("surveys.calling_days: expected \"working\" or \"all\"", key="surveys.calling_days")
    if "{number}" not in surveys.dial:
        raise ConfigError("surveys.dial: must contain {number}", key="surveys.dial")
    if len(surveys.opt_out_key) != 1 or surveys.opt_out_key not in "0456789*#":
        raise ConfigError("surveys.opt_out_key: one key other than 1, 2, 3 (the answers)",
                          key="surveys.opt_out_key")
    if surveys.language not in surveys.prompts:
        raise ConfigError(f"surveys.language: no [surveys.prompts.{surveys.language}]",
                          key="surveys.language")
    try:
        surveys.zone
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"surveys.timezone: unknown time zone {surveys.timezone!r}",
                          key="surveys.timezone") from None
    return surveys


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (optional) and the HOTLINE_* environment into a validated Config."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found", key="--config") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})", key="--config") from None
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror or exc}", key="--config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}", key="--config") from None

    values: dict[str, Any] = {}
    known_sections = {section for section, _ in _SCALARS} | {"pbx", "hotlines", "ivr", "cases", "agents", "surveys"}
    for section, table in data.items():
        if section not in known_sections:
            raise ConfigError(f"{section}: unknown section", key=section)
        if section in ("pbx", "hotlines", "ivr", "agents"):
            continue
        if section == "cases":
            values["cases"] = _cases(table)
            continue
        if section == "surveys":
            values["surveys"] = _surveys(table)
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: expected a table", key=section)
        for key, value in table.items():
            if (section, key) not in _SCALARS:
                raise ConfigError(f"{section}.{key}: unknown key", key=f"{section}.{key}")
            name, kind = _SCALARS[(section, key)]
            values[name] = _coerce(f"{section}.{key}", value, kind)

    for env, dotted in _ENV_SCALARS.items():
        if env in environ:
            section, key = dotted.split(".")
            name, kind = _SCALARS[(section, key)]
            values[name] = _coerce(env, environ[env], kind)

    if "hotlines" in data:
        table = data["hotlines"]
        if not isinstance(table, dict) or not all(
            isinstance(v, str) and v for v in table.values()
        ):
            raise ConfigError("hotlines: expected a table of extension = \"hotline\"", key="hotlines")
        values["hotlines"] = dict(table)

    if "ivr" in data:
        values["ivr_menus"] = _ivr_menus(data["ivr"])
    if "agents" in data:
        table = data["agents"]
        if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
            raise ConfigError('agents: expected a table of "queue member" = "user name"', key="agents")
        values["agents"] = dict(table)

    pbx_tables = data.get("pbx", [])
    if not isinstance(pbx_tables, list):
        raise ConfigError("pbx: expected [[pbx]] tables", key="pbx")
    pbxs = [_pbx(i, table, PbxConfig()) for i, table in enumerate(pbx_tables)] or [PbxConfig()]
    overrides = {
        field_name: _coerce(env, environ[env], _PBX_KEYS[field_name])
        for env, field_name in _ENV_PBX.items()
        if env in environ
    }
    if overrides:
        if len(pbxs) > 1:
            raise ConfigError(
                "HOTLINE_AMI_*: only for a single PBX; several [[pbx]] are configured",
                key="HOTLINE_AMI_HOST",
            )
        pbxs[0] = replace(pbxs[0], **overrides)
    names = [pbx.name for pbx in pbxs]
    if len(set(names)) != len(names):
        raise ConfigError(f"pbx.name: names must be unique, got {names}", key="pbx.name")
    values["pbxs"] = tuple(pbxs)
    surveys = values.get("surveys")
    if surveys is not None and surveys.pbx and surveys.pbx not in names:
        raise ConfigError(f"surveys.pbx: no [[pbx]] named {surveys.pbx!r}", key="surveys.pbx")

    config = Config(**values)
    if config.workers < 1:
        raise ConfigError("transcription.workers: must be at least 1", key="transcription.workers")
    if config.web_max_connections < 1:
        raise ConfigError("web.max_connections: must be at least 1", key="web.max_connections")
    if config.retention_days < 1:
        # 0 would put the cut-off at now: the daemon's first retention run would empty the archive.
        raise ConfigError("recordings.retention_days: must be at least 1", key="recordings.retention_days")
    for role in config.masked_roles:
        if role not in ROLES:
            raise ConfigError(f"centre.masked_roles: unknown role {role!r} (roles: {', '.join(ROLES)})",
                              key="centre.masked_roles")
    try:
        ZoneInfo(config.centre_timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(f"centre.timezone: unknown time zone {config.centre_timezone!r} (an IANA name such as"
                          " Asia/Shanghai)", key="centre.timezone") from None
    _check_database_url(config.database_url)
    return config
