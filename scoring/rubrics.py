"""Rubrics as data: versioned TOML files, validated on load.

A rubric is the rule book of one centre for one kind of subject (windows or staff): categories
with their points and the deduction per occurrence of each item, bonus/penalty items outside the
categories, caps on groups of bonuses, what disqualifies a subject, and how many are awarded per
period. The package ships the rubrics of the source documents; a centre adds its own by pointing
`--rubric-dir` at a folder of files in the same format (docs/scoring.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping

from hotline.errors import InvalidInput, NotFound

SHIPPED = Path(__file__).parent / "rubrics"
PERIOD_KINDS = ("month", "quarter", "year")
SUBJECT_KINDS = ("window", "staff")
SCOPES = ("month", "year")
WITHIN = ("period", "month", "year")
RUBRIC_KEYS = (
    "id", "version", "title", "subjects", "base", "source", "categories", "extras", "caps",
    "disqualifications", "awards", "eligibility", "annual", "attendance",
)  # fmt: skip


class RubricError(InvalidInput):
    """The rubric file is invalid."""

    error_id = "invalid-rubric"


class UnknownRubric(NotFound):
    """No rubric with this id."""

    error_id = "unknown-rubric"


@dataclass(frozen=True)
class Item:
    """One thing that can happen, and what each occurrence of it is worth (signed)."""

    id: str
    name: str
    points: Fraction
    category: str | None
    cap: Fraction | None = None


@dataclass(frozen=True)
class Category:
    """A block of points that deductions come off, down to zero and no further.

    With `survey_rate` (a year-scope category) the subject keeps only `points` times their
    callback-survey satisfaction rate of the year before its items deduct (docs/scoring.md)."""

    id: str
    name: str
    points: Fraction
    scope: str
    items: tuple[Item, ...]
    survey_rate: bool = False


@dataclass(frozen=True)
class Cap:
    """A limit on the bonus a group of items may add within one period."""

    id: str
    name: str
    items: frozenset[str]
    max: Fraction


@dataclass(frozen=True)
class Disqualification:
    """`at_least` occurrences of `items` within a span cost the subject its award in `periods`."""

    items: frozenset[str]
    at_least: Fraction
    within: str
    reason: str
    periods: frozenset[str] = frozenset(PERIOD_KINDS)


@dataclass(frozen=True)
class Award:
    """How many subjects a period's ranking distinguishes, and whether that number is a limit."""

    name: str
    top: int
    at_most: bool = False


@dataclass(frozen=True)
class ClockItems:
    """The items fingerprint-clock findings become: one per late/early, `half_day` per half day absent."""

    late_or_early: str
    absence: str
    half_day: Fraction


@dataclass(frozen=True)
class Rubric:
    id: str
    version: int
    title: str
    subjects: str
    base: Fraction
    source: str
    categories: tuple[Category, ...]
    extras: tuple[Item, ...]
    caps: tuple[Cap, ...] = ()
    disqualifications: tuple[Disqualification, ...] = ()
    awards: Mapping[str, Award] = field(default_factory=dict)
    eligibility: Mapping[str, int] = field(default_factory=dict)
    monthly_weight: Fraction | None = None
    attendance: ClockItems | None = None
    path: Path | None = None

    def categories_in(self, scope: str) -> tuple[Category, ...]:
        return tuple(category for category in self.categories if category.scope == scope)

    @property
    def items(self) -> dict[str, Item]:
        """Every item by id, category items and extras alike."""
        found = {item.id: item for category in self.categories for item in category.items}
        found.update((item.id, item) for item in self.extras)
        return found

    @property
    def monthly_points(self) -> Fraction:
        return sum((c.points for c in self.categories_in("month")), Fraction(0))


class _Reader:
    """Reads one table of a rubric file, naming the file and key in every error."""

    def __init__(self, path: Path, where: str, table: Any, allowed: Iterable[str]) -> None:
        self.path, self.where = path, where
        if not isinstance(table, dict):
            self.fail(where, "expected a table")
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            self.fail(self.key(unknown[0]), "unknown key")
        self.table = table

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, key: str, problem: str) -> None:
        raise RubricError(f"rubric file {self.path}: {key}: {problem}", file=str(self.path), key=key)

    def required(self, name: str) -> Any:
        if name not in self.table:
            self.fail(self.key(name), "missing")
        return self.table[name]

    def text(self, name: str, default: str | None = None) -> str:
        value = self.table.get(name, default) if default is not None else self.required(name)
        if not isinstance(value, str) or not value:
            self.fail(self.key(name), f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.table.get(name, default)
        if value not in choices:
            self.fail(self.key(name), f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def points(self, name: str, *, signed: bool = False, default: Any = None) -> Fraction:
        value = self.table.get(name, default) if default is not None else self.required(name)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(self.key(name), f"expected a number, got {value!r}")
        try:
            # str() first: TOML's 0.5 is a float, and Fraction(0.5) is exact but Fraction(0.1)
            # would not be; the decimal text is what the rubric's author wrote.
            number = Fraction(str(value))
        except ValueError:
            self.fail(self.key(name), f"expected a number, got {value!r}")
        if not signed and number <= 0:
            self.fail(self.key(name), f"must be positive, got {value!r}")
        return number

    def whole(self, name: str, default: int | None = None) -> int:
        value = self.table.get(name, default) if default is not None else self.required(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(self.key(name), f"expected a whole number of at least 1, got {value!r}")
        return value

    def tables(self, name: str) -> list[Any]:
        value = self.table.get(name, [])
        if not isinstance(value, list):
            self.fail(self.key(name), "expected an array of tables")
        return value


def _category(path: Path, index: int, table: Any) -> Category:
    reader = _Reader(path, f"categories[{index}]", table, ("id", "name", "points", "scope", "items", "survey_rate"))
    category_id = reader.text("id")
    points = reader.points("points")
    items = []
    for position, entry in enumerate(reader.tables("items")):
        item_reader = _Reader(
            path, f"categories[{index}].items[{position}]", entry, ("id", "name", "deduct", "cap")
        )
        deduct = item_reader.points("deduct")
        cap = item_reader.points("cap") if "cap" in entry else None
        if deduct > points:
            item_reader.fail(item_reader.key("deduct"), f"exceeds the category's {points} points")
        if cap is not None and not deduct <= cap <= points:
            item_reader.fail(
                item_reader.key("cap"),
                f"must lie between the deduction and the category's {points} points",
            )
        items.append(Item(item_reader.text("id"), item_reader.text("name"), -deduct, category_id, cap))
    scope = reader.choice("scope", SCOPES, "month")
    survey_rate = table.get("survey_rate", False)
    if not isinstance(survey_rate, bool):
        reader.fail(reader.key("survey_rate"), f"expected true or false, got {survey_rate!r}")
    if survey_rate and scope != "year":
        reader.fail(reader.key("survey_rate"), "only a year-scope category follows the year's survey satisfaction")
    return Category(category_id, reader.text("name"), points, scope, tuple(items), survey_rate)


def parse_rubric(path: Path, data: Mapping[str, Any]) -> Rubric:
    """Validate a rubric file's parsed TOML; `path` names the file in errors."""
    top = _Reader(path, "", dict(data), RUBRIC_KEYS)
    rubric_id = top.text("id")
    if rubric_id != path.stem:
        top.fail("id", f"{rubric_id!r} must match the file name {path.stem!r}")
    base = top.points("base")
    categories = tuple(_category(path, i, table) for i, table in enumerate(top.tables("categories")))
    if not categories:
        top.fail("categories", "a rubric needs at least one category")

    extras = []
    for index, table in enumerate(top.tables("extras")):
        reader = _Reader(path, f"extras[{index}]", table, ("id", "name", "points"))
        extras.append(
            Item(reader.text("id"), reader.text("name"), reader.points("points", signed=True), None)
        )

    seen: set[str] = set()
    for key, item_id in (
        [(f"categories.{c.id}", c.id) for c in categories]
        + [(f"items.{item.id}", item.id) for c in categories for item in c.items]
        + [(f"extras.{item.id}", item.id) for item in extras]
    ):
        if item_id in seen:
            top.fail(key, "duplicate id")
        seen.add(item_id)
    item_ids = {item.id for c in categories for item in c.items} | {item.id for item in extras}

    annual = _Reader(path, "annual", data.get("annual", {}), ("monthly_weight",))
    monthly_weight = annual.points("monthly_weight") if "monthly_weight" in annual.table else None
    monthly = sum((c.points for c in categories if c.scope == "month"), Fraction(0))
    yearly = sum((c.points for c in categories if c.scope == "year"), Fraction(0))
    if monthly != base:
        top.fail("categories", f"monthly categories add up to {monthly}, not the base {base}")
    if (monthly_weight is None) != (yearly == 0):
        top.fail("annual.monthly_weight", "needed exactly when there are year-scope categories")
    if monthly_weight is not None and monthly_weight + yearly != base:
        top.fail(
            "annual.monthly_weight",
            f"{monthly_weight} + year categories {yearly} do not add up to the base {base}",
        )

    caps = []
    for index, table in enumerate(top.tables("caps")):
        reader = _Reader(path, f"caps[{index}]", table, ("id", "name", "items", "max"))
        members = _item_list(reader, item_ids)
        if not members <= {item.id for item in extras if item.points > 0}:
            reader.fail(reader.key("items"), "a cap limits bonus extras only")
        caps.append(Cap(reader.text("id"), reader.text("name"), members, reader.points("max")))

    disqualifications = []
    for index, table in enumerate(top.tables("disqualifications")):
        reader = _Reader(
            path,
            f"disqualifications[{index}]",
            table,
            ("items", "at_least", "within", "reason", "periods"),
        )
        periods = table.get("periods", list(PERIOD_KINDS))
        if not isinstance(periods, list) or not periods or not set(periods) <= set(PERIOD_KINDS):
            reader.fail(reader.key("periods"), f"expected a list of {', '.join(PERIOD_KINDS)}")
        disqualifications.append(
            Disqualification(
                _item_list(reader, item_ids),
                reader.points("at_least"),
                reader.choice("within", WITHIN, "period"),
                reader.text("reason"),
                frozenset(periods),
            )
        )

    awards_table = _Reader(path, "awards", data.get("awards", {}), PERIOD_KINDS)
    awards = {}
    for kind, table in awards_table.table.items():
        reader = _Reader(path, f"awards.{kind}", table, ("name", "top", "at_most"))
        at_most = table.get("at_most", False)
        if not isinstance(at_most, bool):
            reader.fail(reader.key("at_most"), f"expected true or false, got {at_most!r}")
        awards[kind] = Award(reader.text("name"), reader.whole("top"), at_most)

    eligibility_table = _Reader(path, "eligibility", data.get("eligibility", {}), PERIOD_KINDS)
    eligibility = {kind: eligibility_table.whole(kind) for kind in eligibility_table.table}

    attendance = None
    if "attendance" in data:
        reader = _Reader(
            path, "attendance", data["attendance"], ("late_or_early", "absence", "half_day")
        )
        category_items = {item.id for c in categories for item in c.items}
        for key in ("late_or_early", "absence"):
            if reader.text(key) not in category_items:
                reader.fail(reader.key(key), f"unknown category item {reader.text(key)!r}")
        attendance = ClockItems(
            reader.text("late_or_early"), reader.text("absence"), reader.points("half_day")
        )

    version = top.required("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        top.fail("version", f"expected a whole number of at least 1, got {version!r}")
    return Rubric(
        id=rubric_id,
        version=version,
        title=top.text("title"),
        subjects=top.choice("subjects", SUBJECT_KINDS, "window"),
        base=base,
        source=top.text("source"),
        categories=categories,
        extras=tuple(extras),
        caps=tuple(caps),
        disqualifications=tuple(disqualifications),
        awards=awards,
        eligibility=eligibility,
        monthly_weight=monthly_weight,
        attendance=attendance,
        path=path,
    )


def _item_list(reader: _Reader, known: set[str]) -> frozenset[str]:
    value = reader.required("items")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        reader.fail(reader.key("items"), "expected a non-empty list of item ids")
    unknown = sorted(set(value) - known)
    if unknown:
        reader.fail(reader.key("items"), f"unknown item {unknown[0]!r}")
    return frozenset(value)


def load_rubric(path: Path) -> Rubric:
    """Read and validate one rubric file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnknownRubric(f"rubric file {path}: not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"rubric file {path}: {exc}", file=str(path)) from None
    return parse_rubric(path, data)


def rubric_files(extra_dirs: Iterable[Path] = ()) -> dict[str, Path]:
    """Rubric id -> file, the shipped ones first; a centre's file of the same id replaces it."""
    found: dict[str, Path] = {}
    for directory in (SHIPPED, *extra_dirs):
        if not Path(directory).is_dir():
            raise UnknownRubric(f"rubric directory {directory}: not found", directory=str(directory))
        for path in sorted(Path(directory).glob("*.toml")):
            found[path.stem] = path
    return found


def find_rubric(name: str, extra_dirs: Iterable[Path] = ()) -> Rubric:
    """The rubric called `name`, or read from `name` when it is a path to a .toml file."""
    if name.endswith(".toml"):
        return load_rubric(Path(name))
    files = rubric_files(extra_dirs)
    if name not in files:
        raise UnknownRubric(f"no rubric {name!r} (known: {', '.join(sorted(files))})", rubric=name)
    return load_rubric(files[name])
