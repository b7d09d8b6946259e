"""Configuration: a TOML file, then environment overrides, validated once at start.

Every setting has a default that works with nothing set (SQLite under ./var, Asterisk on
localhost). A bad value stops the daemon with one line naming the key, never a traceback.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from hotline.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/hotline.db"
ROLES = ("operator", "supervisor", "handler", "admin", "open311")


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
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    web_host: str = "127.0.0.1"
    web_port: int = 8080
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
    cases: CasesConfig = CasesConfig()
    # Queue member (AgentConnect MemberName, or Interface) -> user name: who gets the screen pop.
    agents: Mapping[str, str] = field(default_factory=dict)


# (section, key) -> (Config field, type). The file's layout is documented in hotline.example.toml.
_SCALARS: dict[tuple[str, str], tuple[str, type]] = {
    ("database", "url"): ("database_url", str),
    ("web", "host"): ("web_host", str),
    ("web", "port"): ("web_port", int),
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
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}", key=key)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}", key=key) from None
        if key.lower().endswith("port") and not 0 <= number <= 65535:
            raise ConfigError(f"{key}: port {number} is outside 0-65535", key=key)
        return number
    if kind is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}", key=key) from None
        if number <= 0:
            raise ConfigError(f"{key}: must be positive, got {value!r}", key=key)
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
    return replace(base, **values)


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (optional) and the HOTLINE_* environment into a validated Config."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found", key="--config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}", key="--config") from None

    values: dict[str, Any] = {}
    known_sections = {section for section, _ in _SCALARS} | {"pbx", "hotlines", "cases", "agents"}
    for section, table in data.items():
        if section not in known_sections:
            raise ConfigError(f"{section}: unknown section", key=section)
        if section in ("pbx", "hotlines", "agents"):
            continue
        if section == "cases":
            values["cases"] = _cases(table)
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

    config = Config(**values)
    if config.workers < 1:
        raise ConfigError("transcription.workers: must be at least 1", key="transcription.workers")
    if config.retention_days < 1:
        # 0 would put the cut-off at now: the daemon's first retention run would empty the archive.
        raise ConfigError("recordings.retention_days: must be at least 1", key="recordings.retention_days")
    if not config.database_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"database.url: unsupported database {config.database_url.split(':', 1)[0]!r}"
            " (use sqlite+aiosqlite:// or postgresql+asyncpg://)",
            key="database.url",
        )
    return config
