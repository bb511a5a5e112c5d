"""Small GTFS feeds written to a folder, for tests that import a network."""

from __future__ import annotations

from pathlib import Path

DEMO_FEED = Path(__file__).resolve().parents[2] / "data" / "demo-network"

BASE: dict[str, str] = {
    "agency.txt": (
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "HNB,Hanoi Bus,https://example.invalid,Asia/Ho_Chi_Minh,vi\n"
    ),
    "routes.txt": (
        "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "09,HNB,09,Bờ Hồ - Cầu Giấy,3\n"
        "32,HNB,32,Giáp Bát - Nhổn,3\n"
    ),
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon\n"
        "S1,Bờ Hồ,21.0285,105.8522\n"
        "S2,Tràng Thi,21.0270,105.8450\n"
        "S3,Cầu Giấy,21.0330,105.8000\n"
        "S4,Nhổn,21.0530,105.7420\n"
    ),
    "trips.txt": (
        "route_id,service_id,trip_id,trip_headsign,direction_id\n"
        "09,ALL,T09a,Cầu Giấy,0\n"
        "32,ALL,T32a,Nhổn,0\n"
    ),
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T09a,06:00:00,06:00:00,S1,1\n"
        "T09a,06:05:00,06:05:00,S2,2\n"
        "T09a,06:20:00,06:20:00,S3,3\n"
        "T32a,06:00:00,06:00:00,S3,1\n"
        "T32a,06:30:00,06:30:00,S4,2\n"
    ),
}


def write_feed(folder: Path, **files: str | None) -> Path:
    """Write BASE with some files replaced (`routes_txt="..."`) or left out (`trips_txt=None`)."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = dict(BASE)
    for key, content in files.items():
        name = key.removesuffix("_txt") + ".txt"
        if content is None:
            chosen.pop(name, None)
        else:
            chosen[name] = content
    for name, content in chosen.items():
        (folder / name).write_text(content, encoding="utf-8")
    return folder
