"""Read a tariff folder (GTFS-Fares v2 files plus our extension files) into a `Tariff`.

The tariff is the only thing `fares` reads from files: through `fares.gtfs_csv`, the CSV reader
it shares with the network import, each file as `fares.tariff_files` declares it. Every problem
found is collected, and a folder with any problem raises one `TariffError` listing them all as
`file:line: reason`.

Nothing in a tariff folder is skipped in silence: a file the loader does not read (a misspelt
name, a GTFS file the engine does not implement) or a subfolder of versions without its
`tariff_version.txt` would otherwise leave a tariff that prices differently from what its folder
says. Only documentation (`*.md`) and hidden files (`.gitkeep`) may sit beside the tariff's files.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from fares.gtfs_csv import TARIFF_CONVENTIONS, FileSpec, FolderSource, Problems, Reader, Row, Table
from fares.model import SECONDS_PER_DAY, card_day
from fares.tariff import FreePeriod, RiderCategory, Tariff, TariffError, TariffVersion
from fares.tariff_files import (
    AREAS,
    CALENDAR,
    CATEGORY_ATTRIBUTES,
    CATEGORY_ID,
    FARE_CAPS,
    FARE_FREE_PERIODS,
    FARE_LEG_RULES,
    FARE_MEDIA,
    FARE_MEDIA_ID,
    FARE_PRODUCTS,
    FARE_TRANSFER_RULES,
    NETWORKS,
    PASS_NETWORKS,
    PASS_PRODUCTS,
    RIDER_CATEGORIES,
    ROUTE_NETWORKS,
    STOP_AREAS,
    TARIFF_VERSION,
    TIMEFRAMES,
    VERSION_FILE,
    Head,
    SoFar,
)

R = TypeVar("R")

# GTFS files a tariff might be expected to honour, which this engine does not read.
_NOT_SUPPORTED = {
    "fare_attributes.txt": "GTFS-Fares v1; this engine reads Fares v2 only",
    "fare_rules.txt": "GTFS-Fares v1; this engine reads Fares v2 only",
    "fare_leg_join_rules.txt": "joined legs are not supported by this engine",
    "calendar_dates.txt": "not supported: timeframes use calendar.txt services only",
}

HANOI_TARIFF_DIR = Path(__file__).resolve().parent / "tariffs" / "hanoi"


def load_hanoi_tariff() -> Tariff:
    """The Hanoi tariff shipped with the package, every version."""
    return load_tariff(HANOI_TARIFF_DIR, name="hanoi")


def load_tariff(folder: Path | str, name: str | None = None) -> Tariff:
    """Load a tariff: one version folder, or a folder whose subfolders are its versions."""
    root = Path(folder)
    problems = Problems()
    if not root.is_dir():
        raise TariffError([f"{root}:1: not a folder"])
    version_folders = _version_folders(root, problems)
    if not version_folders:
        raise TariffError(
            [f"{VERSION_FILE}:1: missing, in {root} and in every subfolder: no tariff version"]
            + [str(problem) for problem in problems]
        )
    versions = []
    for path, prefix in version_folders:
        loader = _VersionLoader(path, prefix, problems)
        version = loader.load()
        loader.check_nothing_else()
        if version is not None:
            versions.append(version)
    _check_across_versions(versions, problems)
    if problems:
        raise TariffError([str(problem) for problem in problems])
    versions.sort(key=lambda v: v.effective_from)
    for version in versions:
        version.index()
    return Tariff(name or root.name, tuple(versions))


def _version_folders(root: Path, problems: Problems) -> list[tuple[Path, str]]:
    """The version folders of a tariff folder, with the prefix of their files in problems.

    A folder holding tariff files is one version (its missing `tariff_version.txt` is reported
    with its other files); otherwise each subfolder must be a version.
    """
    entries = sorted(root.iterdir())
    if any(entry.is_file() and entry.suffix == ".txt" for entry in entries):
        return [(root, "")]
    folders = []
    for entry in entries:
        if entry.is_dir():
            if (entry / VERSION_FILE).is_file():
                folders.append((entry, f"{entry.name}/"))
            else:
                problems.add(
                    f"{entry.name}/{VERSION_FILE}",
                    1,
                    "missing: each subfolder of a folder of versions is a tariff version",
                )
        elif not _may_be_beside(entry.name):
            problems.add(
                entry.name,
                1,
                "not part of a tariff: a folder of versions holds version subfolders "
                "(and *.md documentation)",
            )
    return folders


def _may_be_beside(name: str) -> bool:
    """Files a tariff folder may hold besides its own: documentation and hidden files."""
    return name.startswith(".") or name.endswith(".md")


def _check_across_versions(versions: list[TariffVersion], problems: Problems) -> None:
    """Codes written on cards must mean the same thing in every version."""
    seen_dates: dict[date, str] = {}
    codes: dict[tuple[str, int], tuple[str, str]] = {}
    for version in versions:
        if version.effective_from in seen_dates:
            problems.add(
                f"{version.folder}{VERSION_FILE}",
                2,
                f"effective_from {version.effective_from} is also the date of "
                f"{seen_dates[version.effective_from]}",
            )
        seen_dates[version.effective_from] = version.folder or version.version_id
        owned: list[tuple[str, int, str, str]] = [
            ("category", c.code, c.category_id, f"{version.folder}rider_category_attributes.txt")
            for c in version.categories.values()
        ]
        owned += [
            ("pass", p.code, p.pass_product_id, f"{version.folder}pass_products.txt")
            for p in version.pass_products.values()
        ]
        owned += [("cap", c.code, c.cap_id, f"{version.folder}fare_caps.txt") for c in version.caps]
        for kind, code, ident, file in owned:
            earlier = codes.setdefault((kind, code), (ident, version.version_id))
            if earlier[0] != ident:
                problems.add(
                    file,
                    1,
                    f"{kind} code {code} is {ident!r} here but {earlier[0]!r} in "
                    f"version {earlier[1]}; codes on cards must keep their meaning",
                )


def _check_overlaps(periods: list[FreePeriod], problems: Problems, prefix: str) -> None:
    """Free periods must not overlap: each free day is explained by one period."""
    ordered = sorted(periods, key=lambda period: period.first_day)
    for before, after in itertools.pairwise(ordered):
        if after.first_day <= before.last_day:
            file, _, line = after.ref.rpartition(":")
            problems.add(
                f"{prefix}{file}",
                int(line),
                f"free period {after.period_id!r} overlaps {before.period_id!r} ({before.ref})",
            )


class _Read(NamedTuple, Generic[R]):
    table: Table
    rows: list[Row]  # the rows given to the builder
    items: list[R]  # what they became


class _VersionLoader:
    """Reads the files of one version folder in the order they refer; problems go to the list."""

    def __init__(self, folder: Path, prefix: str, problems: Problems) -> None:
        self.prefix = prefix
        self.problems = problems
        self.folder = folder
        self.reader = Reader(FolderSource(folder), TARIFF_CONVENTIONS, problems, prefix=prefix)
        self.said = SoFar()
        self.known: set[str] = set()  # the names of the files read, there or not

    def rows(self, spec: FileSpec[Any, SoFar]) -> tuple[Table, list[Row]]:
        """The file's table and its well-formed rows (the others are reported)."""
        self.known.add(spec.name)
        table = self.reader.open(spec)
        return table, [row for row in table.rows() if row.well_formed]

    def read(self, spec: FileSpec[R, SoFar]) -> _Read[R]:
        """Each row through the file's builder; with a key, only the first row of each."""
        table, rows = self.rows(spec)
        if spec.key is not None:
            rows = list(self.reader.unique(rows, spec.key).values())
        built = [spec.build(row, self.said) for row in rows]
        return _Read(table, rows, [item for item in built if item is not None])

    def load(self) -> TariffVersion | None:
        count = len(self.problems)
        said = self.said
        said.head = head = self.read_head()
        said.media = self.read_media()
        said.categories = categories = self.read_categories()
        said.networks = self.read_networks()
        said.areas = self.read_areas()
        said.services = {service.service_id: service for service in self.read(CALENDAR).items}
        timeframes = self.read(TIMEFRAMES).items
        said.timeframe_groups = {frame.group_id for frame in timeframes}
        medium = said.medium
        if head and medium and said.media is not None and medium not in said.media:
            self.problems.add(
                f"{self.prefix}{VERSION_FILE}",
                2,
                f"fare_media_id {medium!r} is not in fare_media.txt",
            )
        self.read(FARE_PRODUCTS)
        legs = self.read(FARE_LEG_RULES)
        if legs.table.present and not legs.rows:
            legs.table.report_file("no leg rules: no tap could be priced")
        said.leg_groups = {rule.leg_group_id for rule in legs.items if rule.leg_group_id}
        transfer_rules = self.read(FARE_TRANSFER_RULES).items
        said.pass_products = {p.pass_product_id: p for p in self.read(PASS_PRODUCTS).items}
        covered: dict[str, set[str]] = {}
        for product_id, network in self.read(PASS_NETWORKS).items:
            covered.setdefault(product_id, set()).add(network)
        for product_id, networks in covered.items():
            said.pass_products[product_id] = replace(
                said.pass_products[product_id], networks=frozenset(networks)
            )
        caps = self.read(FARE_CAPS).items
        free_periods = self.read(FARE_FREE_PERIODS).items
        _check_overlaps(free_periods, self.problems, self.prefix)
        default = [c for c in categories.values() if c.is_default]
        if len(self.problems) > count or head is None or len(default) != 1:
            return None
        return TariffVersion(
            version_id=head.version_id,
            folder=self.prefix,
            effective_from=head.effective_from,
            effective_seconds=card_day(head.effective_from) * SECONDS_PER_DAY - head.utc_offset,
            utc_offset=head.utc_offset,
            currency=head.currency,
            fare_media_id=medium,
            day_start=head.day_start,
            passback_seconds=head.passback_seconds,
            assumed_leg_seconds=head.assumed_leg_seconds,
            categories=categories,
            default_category=default[0],
            route_networks=said.route_networks,
            stop_areas={stop: frozenset(areas) for stop, areas in said.stop_areas.items()},
            leg_rules=tuple(legs.items),
            uses_priority="rule_priority" in legs.table.columns,
            transfer_rules=tuple(transfer_rules),
            caps=tuple(caps),
            pass_products=said.pass_products,
            timeframes=tuple(timeframes),
            services=said.services,
            free_periods=tuple(sorted(free_periods, key=lambda period: period.first_day)),
            same_stop_exit_seconds=head.same_stop_exit_seconds,
        )

    def check_nothing_else(self) -> None:
        """Report what the folder holds besides the files read (after `load`)."""
        for entry in sorted(self.folder.iterdir()):
            name = entry.name
            if name in self.known or _may_be_beside(name):
                continue
            if entry.is_dir():
                reason = "a subfolder in a tariff version; a version holds only its files"
            elif name in _NOT_SUPPORTED:
                reason = _NOT_SUPPORTED[name]
            else:
                reason = "not a tariff file (see docs/tariff-format.md for the files there are)"
            self.problems.add(f"{self.prefix}{name}", 1, reason)

    def read_head(self) -> Head | None:
        table, rows = self.rows(TARIFF_VERSION)
        if not table.present:
            return None
        if len(rows) != 1:
            table.report_file(f"must have exactly one data row, not {len(rows)}")
            return None
        return TARIFF_VERSION.build(rows[0], self.said)

    def read_media(self) -> set[str] | None:
        table, rows = self.rows(FARE_MEDIA)
        if not table.present:
            return None
        for row in rows:  # every row's type is checked before the ids are
            FARE_MEDIA.build(row, self.said)
        return set(self.reader.unique(rows, FARE_MEDIA_ID))

    def read_categories(self) -> dict[str, RiderCategory]:
        # Both files are opened before either is read: a category is built with its attributes.
        said = self.said
        table, rows = self.rows(RIDER_CATEGORIES)
        said.attributes_table, attribute_rows = self.rows(CATEGORY_ATTRIBUTES)
        categories = self.reader.unique(rows, CATEGORY_ID)
        said.attributes = self.reader.unique(attribute_rows, CATEGORY_ID)
        found = {}
        for row in categories.values():
            category = RIDER_CATEGORIES.build(row, said)
            if category is not None:
                found[category.category_id] = category
        for category_id, row in said.attributes.items():
            if category_id not in categories:
                row.report(f"rider_category_id {category_id!r} is not in rider_categories.txt")
        if table.present and categories and not said.default_rows:
            table.report_file("no category has is_default_fare_category=1; exactly one must")
        return found

    def read_networks(self) -> set[str] | None:
        """networks.txt, or else the networks route_networks.txt names."""
        said = self.said
        networks = self.read(NETWORKS)
        said.networks = set(networks.items) if networks.table.present else None
        links = self.read(ROUTE_NETWORKS)
        if said.networks is None and links.table.present:
            return set(said.route_networks.values())
        return said.networks

    def read_areas(self) -> set[str] | None:
        """areas.txt, or else the areas stop_areas.txt names."""
        said = self.said
        areas = self.read(AREAS)
        said.areas = set(areas.items) if areas.table.present else None
        links = self.read(STOP_AREAS)
        if said.areas is None and links.table.present:
            return {area for found in said.stop_areas.values() for area in found}
        return said.areas
