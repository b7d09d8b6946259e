"""The `hotline` command: serve, demo, db upgrade, db seed, user add/password/list/revoke, and the commands of each package.

A HotlineError (bad configuration, bad input) ends the command with one line on stderr and exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from typing import Sequence

from hotline import __version__
from hotline.config import ROLES, Config, load_config
from hotline.errors import HotlineError, InvalidInput
from hotline.logs import log_to_stderr

log = logging.getLogger("hotline")

# Each module adds its sub-commands with `add_commands(subparsers)`; every sub-command sets
# `func(args, config) -> int`.
COMMAND_MODULES = (
    "hotline.demo", "scoring.commands", "recordings.commands", "hotline.cases.commands",
    "hotline.surveys.commands",
)


def _serve(args: argparse.Namespace, config: Config) -> int:
    from hotline import daemon

    asyncio.run(daemon.run(config))
    return 0


def _db_upgrade(args: argparse.Namespace, config: Config) -> int:
    from hotline.db import database

    async def run() -> None:
        async with database(config.database_url):
            pass

    asyncio.run(run())
    print(f"database at {_safe_url(config.database_url)} is up to date")
    return 0


def _db_seed(args: argparse.Namespace, config: Config) -> int:
    import random
    import time
    from datetime import datetime, timezone

    from hotline.db import database
    from hotline.db.calls import seed_calls
    from recordings.seed import seed_transcripts

    for option, value in (("--calls", args.calls), ("--transcripts", args.transcripts), ("--days", args.days)):
        if value < (1 if option == "--days" else 0):
            raise InvalidInput(f"{option}: must be at least {1 if option == '--days' else 0}, got {value}")
    rng = random.Random(args.seed)

    async def run() -> None:
        async with database(config.database_url) as sessions, sessions() as session, session.begin():
            answered = await seed_calls(session, rng, args.calls, datetime.now(timezone.utc), days=args.days)
            if args.transcripts > len(answered):
                raise InvalidInput(
                    f"--transcripts: at most one per answered call, and {args.calls} calls give"
                    f" {len(answered)} answered; got {args.transcripts}"
                )
            await seed_transcripts(session, rng, rng.sample(answered, args.transcripts))

    began = time.perf_counter()
    asyncio.run(run())
    print(f"seeded {args.calls} calls and {args.transcripts} transcripts into {_safe_url(config.database_url)}"
          f" in {time.perf_counter() - began:.0f} s")
    return 0


def _read_password() -> str:
    """A new console password: asked twice on a terminal, else the first line of stdin (scripts)."""
    import getpass

    from hotline.errors import InvalidInput
    from hotline.passwords import password_problem

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise InvalidInput("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise InvalidInput(problem)
    return password


def _user_add(args: argparse.Namespace, config: Config) -> int:
    from hotline.db import database
    from hotline.db.users import add_user, set_password
    from hotline.passwords import hash_password

    password_hash = hash_password(_read_password()) if args.password else None

    from hotline.cases.store import department_exists

    if args.role == "handler" and not args.department:
        raise InvalidInput("user add: a handler needs --department ID (see hotline departments import)")

    async def run() -> str:
        async with database(config.database_url) as sessions, sessions() as session:
            if args.department and not await department_exists(session, args.department):
                raise InvalidInput(f"--department: no department {args.department!r}; import departments first")
            token = await add_user(session, args.name, args.role, args.department)
            if password_hash:
                await set_password(session, args.name, password_hash)
            return token

    token = asyncio.run(run())
    of = f", department {args.department}" if args.department else ""
    signs_in = "; they sign in to the console with their password" if password_hash else ""
    print(f"user {args.name} ({args.role}{of}) created{signs_in}; their bearer token (shown only now):")
    print(token)
    return 0


def _user_password(args: argparse.Namespace, config: Config) -> int:
    from hotline.db import database
    from hotline.db.users import set_password
    from hotline.passwords import hash_password

    password_hash = hash_password(_read_password())

    async def run() -> None:
        async with database(config.database_url) as sessions, sessions() as session:
            await set_password(session, args.name, password_hash)

    asyncio.run(run())
    print(f"user {args.name}: password set; their console sessions were signed out")
    return 0


def _user_list(args: argparse.Namespace, config: Config) -> int:
    from hotline.db import database
    from hotline.db.users import list_users

    async def run():
        async with database(config.database_url) as sessions, sessions() as session:
            return await list_users(session)

    users = asyncio.run(run())
    width = max([len(user.name) for user in users] + [4])
    print(f"{'NAME':<{width}}  {'ROLE':<10}  {'CREATED':<25}  STATUS")
    for user in users:
        status = "active" if user.disabled_at is None else f"revoked {user.disabled_at:%Y-%m-%d %H:%M:%S}Z"
        print(f"{user.name:<{width}}  {user.role:<10}  {user.created_at:%Y-%m-%d %H:%M:%S}Z{'':<5}  {status}")
    return 0


def _user_revoke(args: argparse.Namespace, config: Config) -> int:
    from hotline.db import database
    from hotline.db.users import revoke_user

    async def run():
        async with database(config.database_url) as sessions, sessions() as session:
            return await revoke_user(session, args.name)

    user = asyncio.run(run())
    print(f"user {user.name} revoked at {user.disabled_at:%Y-%m-%d %H:%M:%S}Z: their token no longer works"
          " (open WebSockets are closed within seconds)")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline", description="Telephone side of the 12345/12319 government service hotlines."
    )
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (see hotline.example.toml)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the daemon: AMI links, call tracking, web API")
    serve.set_defaults(func=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(func=_db_upgrade)
    seed = db_commands.add_parser(
        "seed", help="add synthetic calls and transcripts (for benchmarks; never into a production database)"
    )
    seed.add_argument("--calls", type=int, required=True, metavar="N", help="ended calls to add")
    seed.add_argument("--transcripts", type=int, default=0, metavar="M",
                      help="answered calls among them that get a recording and a transcript (default 0)")
    seed.add_argument("--days", type=int, default=365, help="the calls start in this many days up to now (default 365)")
    seed.add_argument("--seed", type=int, default=12345, help="random seed: the same seed gives the same calls")
    seed.set_defaults(func=_db_seed)

    user = commands.add_parser("user", help="API users")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser("add", help="create a user and print their bearer token")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--department", metavar="ID", help="a handler's department (hotline departments import)")
    add.add_argument("--password", action="store_true",
                     help="also set a console password (asked for, or the first line of stdin)")
    add.set_defaults(func=_user_add)
    password = user_commands.add_parser(
        "password", help="set a user's console password (asked for, or the first line of stdin)")
    password.add_argument("name")
    password.set_defaults(func=_user_password)
    user_commands.add_parser("list", help="every user, their role and whether their token works").set_defaults(
        func=_user_list
    )
    revoke = user_commands.add_parser("revoke", help="stop a user's token working, at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=_user_revoke)

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands)
    # Ports between features, filled here so that none imports another's store: the survey
    # commands file cases through `args.case_desk(config)`, the score commands read the
    # period's survey satisfaction and suggestions through `args.survey_satisfaction(config)` and
    # `args.survey_suggestions(config)`; the survey results read the suggestions' transcripts
    # through `args.transcripts(config)`.
    parser.set_defaults(case_desk=_survey_desk, survey_satisfaction=_survey_satisfaction,
                        survey_suggestions=_survey_suggestions, transcripts=_transcripts)
    return parser


def _survey_suggestions(config: Config):
    from hotline.web.app import survey_suggestions

    return survey_suggestions(config)


def _transcripts(config: Config):
    from recordings.texts import TranscriptTexts

    return TranscriptTexts()


def _survey_satisfaction(config: Config):
    from hotline.web.app import survey_satisfaction

    return survey_satisfaction(config)


def _survey_desk(config: Config):
    from hotline.daemon import survey_desk

    return survey_desk(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_to_stderr(args.log_level)
    if args.log_level != "DEBUG":
        # Alembic narrates every migration step at INFO; an operator needs only its failures.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except HotlineError as error:
        print(f"hotline: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head -1`): what is left to print has no one to read it. Point
        # stdout at /dev/null so the interpreter's final flush cannot fail again, and exit as a
        # writer killed by SIGPIPE would (the Python docs' "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
