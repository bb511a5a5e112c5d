"""One problem-collecting reader for the CSV files of the GTFS family.

The network import (`transit.gtfs`) and the tariff loader (`fares.loader`) read files of the same
family, and both must report everything wrong with them at once rather than stop at the first
problem. Each of their files is declared once, as a `FileSpec`: its columns with their parsers,
which columns and values are required, and what a row becomes. This module opens a file by name
from a `Source`, decodes it, checks its header and hands out rows whose typed values are parsed
when the row's builder asks for them, in the order it asks, so that a row's problems come out in
the order of its rules. A problem is recorded as `Problem(file, line, reason)`, never raised.

Pure, like the rest of `fares`: the only I/O here is `FolderSource` reading a file of a folder,
which is what the tariff loader has always done; a zipped feed brings its own `Source`.

Line numbers are physical lines of the file: the header is line 1, the first data row line 2.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TextIO, TypeVar

from fares.model import SECONDS_PER_DAY

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "FEED_CONVENTIONS",
    "TARIFF_CONVENTIONS",
    "Column",
    "Conventions",
    "FileSpec",
    "FolderSource",
    "Invalid",
    "Problem",
    "Problems",
    "Progress",
    "Reader",
    "Row",
    "Source",
    "Table",
    "Unreadable",
    "calendar_date",
    "choice",
    "clock_seconds",
    "coordinate",
    "currency_amount",
    "finite_float",
    "gtfs_time",
    "non_negative_int",
    "non_negative_number",
    "whole_number",
]

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
R = TypeVar("R")
C = TypeVar("C")

Progress = Callable[[str, int], None]

PROGRESS_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, located by file and line."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class Problems(list[Problem]):
    """Every problem found, in the order it was found."""

    def add(self, file: str, line: int, reason: str) -> None:
        """Record one problem."""
        self.append(Problem(file, line, reason))


# -- where the bytes come from ------------------------------------------------------------------


class Unreadable(Exception):
    """A file is there but its bytes cannot be had; the message says why."""


class Source(Protocol):
    """The files of one feed or tariff version, by name."""

    def has(self, name: str) -> bool:
        """Whether the file is there."""
        ...

    def read(self, name: str) -> bytes:
        """The file's bytes; raises Unreadable."""
        ...


class FolderSource:
    """The files of a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def has(self, name: str) -> bool:
        """Whether the folder has a file of that name."""
        return (self.folder / name).is_file()

    def read(self, name: str) -> bytes:
        """The file's bytes."""
        try:
            return (self.folder / name).read_bytes()
        except OSError as error:
            raise Unreadable(f"cannot be read: {error.strerror or error}") from None


# -- how each family reports what can be wrong with any CSV file ------------------------------


def _blank_line(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _blank_fields(fields: list[str]) -> bool:
    return not any(value.strip() for value in fields)


@dataclass(frozen=True, slots=True)
class Conventions:
    """How a family of files words and places what can be wrong with any of its CSV files.

    The network feed and the tariff had a reader each before this one, each with its own wording
    that operators and tests know; the one reader keeps both rather than change what either says.
    Templates are `str.format` strings.
    """

    whole_file_line: int  # where a problem with the whole file goes: line 0, or the header's 1
    empty_file: str
    blank_header_is_empty: bool
    # True: each line that is not UTF-8 is reported and the whole file read on; False: the file
    # is read as a text stream, reported once (`{reason}`) where the bytes stop being UTF-8 and
    # read no further.
    utf8_by_line: bool
    not_utf8: str
    unparsable_header: str  # `{error}`, on line 1
    # `{error}`; on the row's line and reading goes on, or on the file's line and it ends there.
    unparsable_row: str
    unparsable_row_ends_file: bool
    # True: each repeat of a column is reported (`{column}`) and its first place is read; False:
    # each repeated column is reported once (`{column}`, `{count}`) and its last place is read.
    first_of_repeated_columns: bool
    repeated_column: str
    missing_column: str  # `{column}`, on line 1
    missing_column_ends_file: bool
    skip_row: Callable[[list[str]], bool]  # the blank rows, left out
    row_line_is_last: bool  # a row spanning lines is on its last line, or its first
    wrong_width: str  # `{found}` fields, `{width}` in the header
    empty_value: str  # `{column}`
    unknown_reference: str  # `{column}`, `{value}`, `{target}`
    repeated_key: str  # `{column}`, `{value}`, `{first}` (the line of the first)


FEED_CONVENTIONS = Conventions(
    whole_file_line=0,
    empty_file="file is empty",
    blank_header_is_empty=True,
    utf8_by_line=True,
    not_utf8="not valid UTF-8",
    unparsable_header="cannot parse the header: {error}",
    unparsable_row="cannot parse the row: {error}",
    unparsable_row_ends_file=False,
    first_of_repeated_columns=True,
    repeated_column="column {column} appears more than once",
    missing_column="missing required column {column}",
    missing_column_ends_file=True,
    skip_row=_blank_line,
    row_line_is_last=False,
    wrong_width="expected {width} fields, found {found}",
    empty_value="{column} is empty",
    unknown_reference="{column} {value} is not in {target}",
    repeated_key="duplicate {column} {value} (line {first})",
)
"""The network feed's (transit.gtfs)."""

TARIFF_CONVENTIONS = Conventions(
    whole_file_line=1,
    empty_file="file is empty; the first line must name the columns",
    blank_header_is_empty=False,
    utf8_by_line=False,
    not_utf8="not UTF-8 text: {reason}",
    unparsable_header="not CSV: {error}",
    unparsable_row="not CSV: {error}",
    unparsable_row_ends_file=True,
    first_of_repeated_columns=False,
    repeated_column="column {column} appears {count} times",
    missing_column="missing column {column}",
    missing_column_ends_file=False,
    skip_row=_blank_fields,
    row_line_is_last=True,
    wrong_width="has {found} fields but the header has {width}",
    empty_value="{column} is required",
    unknown_reference="{column} {value!r} is not a known {target}",
    repeated_key="{column} {value!r} repeats line {first}",
)
"""The tariff's (fares.loader)."""


# -- columns and their parsers -----------------------------------------------------------------


class Invalid(ValueError):
    """A value a parser refuses; the message follows the column's name."""


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """One column of a file: its name, how a value is parsed, and whether it must be there."""

    name: str
    parse: Callable[[str], T]
    required: bool = False  # every row must give a value (and the header name the column)
    in_header: bool = False  # the header must name the column, though a value may be empty
    default: T | None = None  # the value of an empty cell
    # Values repeat from row to row (ids, times): each is parsed once per file and every row gets
    # the same object, which keeps a file of 200k rows light.
    shared: bool = False

    @property
    def needed_in_header(self) -> bool:
        """Whether a file without this column is reported."""
        return self.required or self.in_header


def non_negative_int(text: str) -> int:
    """Digits only (GTFS sequences)."""
    if not text.isdigit() or not text.isascii():
        raise Invalid(f"{text!r} is not a non-negative integer")
    return int(text)


def finite_float(text: str) -> float | None:
    """A number other than nan or infinity, or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def non_negative_number(text: str) -> float:
    """A finite number, zero or more (GTFS distances)."""
    number = finite_float(text)
    if number is None or number < 0:
        raise Invalid(f"{text!r} is not a non-negative number")
    return number


def coordinate(limit: float) -> Callable[[str], float]:
    """A latitude (limit 90) or longitude (limit 180) in degrees."""

    def parse(text: str) -> float:
        number = finite_float(text)
        if number is None:
            raise Invalid(f"{text!r} is not a number")
        if not -limit <= number <= limit:
            raise Invalid(f"{text} is out of range [-{limit:g}, {limit:g}]")
        return number

    return parse


def whole_number(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An integer as Python writes one, within bounds (the tariff's counts and codes)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise Invalid(f"must be a whole number, not {text!r}") from None
        if minimum is not None and value < minimum:
            raise Invalid(f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise Invalid(f"must be at most {maximum}, not {value}")
        return value

    return parse


def choice(kind: type[E]) -> Callable[[str], E]:
    """One of an enum's values."""
    allowed = {member.value: member for member in kind}

    def parse(text: str) -> E:
        if text not in allowed:
            raise Invalid(f"must be one of {', '.join(allowed)}, not {text!r}")
        return allowed[text]

    return parse


# ISO 4217 minor units: how many decimal places an amount in the currency has. Every active code
# whose minor unit is not 2 is here, so no such currency can be read a hundredfold wrong; of the
# 2-place currencies, the usual ones. A code not here is refused rather than guessed.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
    **dict.fromkeys(
        ("AED", "ARS", "AUD", "BDT", "BGN", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK",
         "EGP", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "KHR", "KZT", "LAK", "LKR",
         "MMK", "MXN", "MYR", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RSD",
         "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "ZAR"),
        2,
    ),
}  # fmt: skip
_CURRENCY_AMOUNT = re.compile(r"-?[0-9]+(?:\.([0-9]+))?")


def currency_amount(currency: str, digits: int) -> Callable[[str], int]:
    """A GTFS currency amount (`1.75`, `-0.50`, `8000`) as a whole number of minor units.

    Exact, through Decimal: `1.75` GBP is 175. More decimal places than the currency has are
    refused; fewer are read as they stand (`2` USD is 200).
    """
    scale = Decimal(10) ** digits

    def parse(text: str) -> int:
        match = _CURRENCY_AMOUNT.fullmatch(text)
        if match is None:
            raise Invalid(f"must be a decimal number like 8000 or 1.75, not {text!r}")
        places = len(match[1] or "")
        if places > digits:
            if digits == 0:
                raise Invalid(f"must be whole {currency} units, not {text!r}")
            raise Invalid(
                f"must have at most {digits} decimal places in {currency} (ISO 4217), not {text!r}"
            )
        return int(Decimal(text) * scale)

    return parse


_GTFS_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_CLOCK = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")


def gtfs_time(text: str) -> str:
    """A time of the service day as HH:MM:SS, hours past 23 allowed (stop times)."""
    match = _GTFS_TIME.fullmatch(text)
    if match is None or not text.isascii():
        raise Invalid(f"{text!r} is not HH:MM:SS")
    hours, minutes, seconds = match.groups()
    return f"{int(hours):02d}:{minutes}:{seconds}"


def clock_seconds(text: str) -> int:
    """A time of day as seconds since midnight, 24:00:00 at the latest (timeframes)."""
    match = _CLOCK.match(text)
    if not match:
        raise Invalid(f"must be HH:MM:SS, not {text!r}")
    hours, minutes, seconds = (int(part) for part in match.groups())
    value = hours * 3600 + minutes * 60 + seconds
    if value > SECONDS_PER_DAY:
        raise Invalid(f"must not be later than 24:00:00, not {text!r}")
    return value


def calendar_date(text: str) -> date:
    """A date as YYYYMMDD (GTFS) or YYYY-MM-DD."""
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"must be a date (YYYY-MM-DD or YYYYMMDD), not {text!r}") from None


# -- files, tables and rows --------------------------------------------------------------------


@dataclass(frozen=True)
class FileSpec(Generic[R, C]):
    """The declaration of one file: its columns, and what a row becomes.

    `build` reads a row's values through its columns and returns what the row stands for, or
    None; `C` is what it needs besides the row (what the files read before said). `key` names a
    row, and other files refer to it; `unique_key` says whether two rows may share one.
    """

    name: str
    columns: tuple[Column[Any], ...]
    build: Callable[[Row, C], R | None]
    key: Column[str] | None = None
    unique_key: bool = True
    required: bool = False  # a missing file is reported


class Table:
    """One file: its header, once checked, and its rows."""

    def __init__(self, file: str, conventions: Conventions, problems: Problems) -> None:
        self.file = file
        self.conventions = conventions
        self.problems = problems
        self.present = False
        self.usable = False  # the header is good enough to read the rows by
        self.columns: dict[str, int] = {}
        self.width = 0
        self.shared: dict[str, dict[str, Any]] = {}  # column -> text -> value, see Column.shared
        self._csv: CsvReader | None = None
        self._progress: Progress | None = None

    def start(self, reader: CsvReader, width: int, progress: Progress | None) -> None:
        """Rows come from `reader`, past a header of `width` columns."""
        self._csv, self.width, self._progress = reader, width, progress

    def report(self, line: int, reason: str) -> None:
        """Record a problem of this file."""
        self.problems.add(self.file, line, reason)

    def report_file(self, reason: str) -> None:
        """Record a problem of the whole file."""
        self.report(self.conventions.whole_file_line, reason)

    def rows(self) -> Iterator[Row]:
        """The data rows, once; blank rows are left out and unparsable ones reported."""
        reader = self._csv
        if reader is None:
            return
        self._csv = None
        conventions, progress = self.conventions, self._progress
        line_num = reader.line_num
        count = 0
        while True:
            start = line_num + 1
            try:
                fields = next(reader, None)
            except UnicodeDecodeError as error:  # only when not utf8_by_line
                self.report_file(conventions.not_utf8.format(reason=error.reason))
                break
            except csv.Error as error:
                line_num = reader.line_num
                reason = conventions.unparsable_row.format(error=error)
                if conventions.unparsable_row_ends_file:
                    self.report_file(reason)
                    break
                self.report(start, reason)
                continue
            line_num = reader.line_num
            if fields is None:
                break
            if conventions.skip_row(fields):
                continue
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(self.file, count)
            line = line_num if conventions.row_line_is_last else start
            well_formed = len(fields) == self.width
            if not well_formed:
                found, width = len(fields), self.width
                self.report(line, conventions.wrong_width.format(found=found, width=width))
            yield Row(self, line, fields, well_formed)
        if progress is not None:
            progress(self.file, count)


class Row:
    """One data row; its values are parsed, and their problems recorded, when asked for."""

    __slots__ = ("columns", "fields", "line", "ok", "table", "well_formed")

    def __init__(self, table: Table, line: int, fields: list[str], well_formed: bool) -> None:
        self.table = table
        self.columns = table.columns
        self.line = line
        self.fields = fields
        self.well_formed = well_formed  # as many fields as the header; else already reported
        self.ok = True  # no problem recorded against the row

    def report(self, reason: str) -> None:
        """Record a problem of this row; the row is no longer ok."""
        self.ok = False
        self.table.problems.add(self.table.file, self.line, reason)

    def raw(self, name: str) -> str:
        """The stripped text of a column, "" where the file has no such column; never checked."""
        index = self.columns.get(name, -1)
        fields = self.fields
        return fields[index].strip() if 0 <= index < len(fields) else ""

    def value(self, column: Column[T], *, required: bool | None = None) -> T | None:
        """The column's parsed value, its default if empty, None if refused (and reported).

        `required` overrides the column's own for a row whose rules make a value necessary.
        """
        # The hot path of a large feed: raw() is written out here.
        index = self.columns.get(column.name, -1)
        fields = self.fields
        text = fields[index].strip() if 0 <= index < len(fields) else ""
        if not text:
            if column.required if required is None else required:
                self.empty(column)
            return column.default
        shared: dict[str, Any] | None = None
        if column.shared:
            shared = self.table.shared.get(column.name)
            if shared is None:
                shared = self.table.shared[column.name] = {}
            elif text in shared:
                return shared[text]  # type: ignore[no-any-return]
        try:
            value = column.parse(text)
        except Invalid as invalid:
            self.report(f"{column.name} {invalid}")
            return None
        if shared is not None:
            shared[text] = value
        return value

    def text(self, column: Column[str], *, required: bool | None = None) -> str:
        """A text column's value, "" if empty or refused."""
        value = self.value(column, required=required)
        return "" if value is None else value

    def reference(self, column: Column[str], known: Container[str] | None, target: str) -> str:
        """A value naming a row of `target`; `known` None where that cannot be checked."""
        value = self.value(column)
        if not value:
            return ""
        if known is not None and value not in known:
            template = self.table.conventions.unknown_reference
            self.report(template.format(column=column.name, value=value, target=target))
        return value

    def empty(self, column: Column[Any]) -> None:
        """Report a value that must be given; not for a column the file does not have."""
        if column.name in self.columns:
            self.report(self.table.conventions.empty_value.format(column=column.name))


class Reader:
    """Opens the files of one feed or tariff version, all into one problem list.

    `prefix` goes before each file's name in its problems (a tariff version's folder).
    """

    def __init__(
        self,
        source: Source,
        conventions: Conventions,
        problems: Problems,
        *,
        prefix: str = "",
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.conventions = conventions
        self.problems = problems
        self.prefix = prefix
        self.progress = progress

    def open(self, spec: FileSpec[Any, Any]) -> Table:
        """The file's table, its header checked; not usable when absent or unreadable."""
        table = Table(self.prefix + spec.name, self.conventions, self.problems)
        if not self.source.has(spec.name):
            if spec.required:
                table.report_file("required file is missing")
            return table
        table.present = True
        try:
            data = self.source.read(spec.name)
        except Unreadable as failure:
            table.report_file(str(failure))
            return table
        text: TextIO
        if self.conventions.utf8_by_line:
            text = io.StringIO(self._decode_by_line(table, data), newline="")
        else:
            text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header_row = next(reader, None)
        except csv.Error as error:
            table.report(1, self.conventions.unparsable_header.format(error=error))
            return table
        except UnicodeDecodeError as error:
            table.report_file(self.conventions.not_utf8.format(reason=error.reason))
            return table
        if header_row is None or (
            self.conventions.blank_header_is_empty and not any(c.strip() for c in header_row)
        ):
            table.report_file(self.conventions.empty_file)
            return table
        needed = [column.name for column in spec.columns if column.needed_in_header]
        self._check_header(table, [cell.strip() for cell in header_row], needed)
        if table.usable:
            table.start(reader, len(header_row), self.progress)
        return table

    def _decode_by_line(self, table: Table, data: bytes) -> str:
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                table.report(number, self.conventions.not_utf8)
        return data.decode("utf-8", errors="replace")

    def _check_header(self, table: Table, names: list[str], needed: list[str]) -> None:
        conventions = self.conventions
        if conventions.first_of_repeated_columns:
            for index, name in enumerate(names):
                if name in table.columns:
                    table.report(1, conventions.repeated_column.format(column=name))
                elif name:
                    table.columns[name] = index
        else:
            table.columns = {name: index for index, name in enumerate(names)}
            for name, count in Counter(names).items():
                if count > 1:
                    table.report(1, conventions.repeated_column.format(column=name, count=count))
        missing = [name for name in needed if name not in table.columns]
        for name in missing:
            table.report(1, conventions.missing_column.format(column=name))
        table.usable = not (missing and conventions.missing_column_ends_file)

    def unique(self, rows: list[Row], column: Column[str]) -> dict[str, Row]:
        """Rows by a column that must be unique and given; the others are reported, left out."""
        found: dict[str, Row] = {}
        template = self.conventions.repeated_key
        for row in rows:
            value = row.text(column, required=True)
            if not value:
                continue
            if value in found:
                first = found[value].line
                row.report(template.format(column=column.name, value=value, first=first))
                continue
            found[value] = row
        return found
