"""Read a GTFS feed (a .zip or a folder) and check it, reporting every problem at once.

Standard library only, so that operators can check a feed before anything touches the database.
The CSV reading is `fares.gtfs_csv`'s, shared with the tariff loader; the files are declared in
`transit.gtfs.files`. Line numbers are the physical line where a CSV record starts: the header is
line 1, the first data row line 2; problems about a whole file are on line 0.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from fares.gtfs_csv import (
    FEED_CONVENTIONS,
    FolderSource,
    Problem,
    Problems,
    Reader,
    Source,
    Unreadable,
)
from transit.gtfs.files import AGENCY, FILE_ORDER, read_files
from transit.gtfs.records import Agency, Feed, Route, ShapePoint, Stop, StopTime, Trip

__all__ = [
    "Agency",
    "Feed",
    "FeedError",
    "Problem",
    "Route",
    "ShapePoint",
    "Stop",
    "StopTime",
    "Trip",
    "read_feed",
]

Progress = Callable[[str, int], None]

# A zip entry may claim any size; reading stops past this, so a zip bomb cannot fill memory.
MAX_FILE_BYTES = 1 << 30


class FeedError(Exception):
    """The feed cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def read_feed(path: Path, progress: Progress | None = None) -> Feed:
    """Read and check the feed at `path`; raise FeedError listing every problem found."""
    path = Path(path)
    if path.is_dir():
        return _read(FolderSource(path), progress)
    if not path.exists():
        raise FeedError([Problem(str(path), 0, "no such file or folder")])
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        reason = "not a zip file" if isinstance(error, zipfile.BadZipFile) else str(error)
        raise FeedError([Problem(str(path), 0, reason)]) from None
    with archive:
        return _read(_ZipSource(archive), progress)


def _read(source: Source, progress: Progress | None) -> Feed:
    problems = Problems()
    feed = read_files(Reader(source, FEED_CONVENTIONS, problems, progress=progress))
    if feed is None:
        order = {name: position for position, name in enumerate(FILE_ORDER)}
        problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
        raise FeedError(problems)
    return feed


class _ZipSource:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        members = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        ]
        self._prefix = self._feed_folder(members)
        self._members = set(members)

    @staticmethod
    def _feed_folder(members: list[str]) -> str:
        # Zipping a folder instead of its contents puts every file under one folder.
        txt_folders = {name.rpartition("/")[0] for name in members if name.endswith(".txt")}
        if "" in txt_folders or not txt_folders:
            return ""
        if len(txt_folders) == 1:
            return txt_folders.pop() + "/"
        with_agency = {name.rpartition("/")[0] for name in members if name.endswith("/" + AGENCY)}
        if len(with_agency) == 1:
            return with_agency.pop() + "/"
        return ""

    def has(self, name: str) -> bool:
        return self._prefix + name in self._members

    def read(self, name: str) -> bytes:
        try:
            with self._archive.open(self._prefix + name) as member:
                data = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError) as e:
            raise Unreadable(f"cannot be read from the zip: {e}") from None
        if len(data) > MAX_FILE_BYTES:
            raise Unreadable(f"is larger than {MAX_FILE_BYTES:,} bytes once unzipped")
        return data
