"""A bus morning against the server `make run` started: `make demo-bus`.

Starts pcscd (as root) if it is not running, issues a virtual card with 30,000 VND, puts two
validators on routes 32 and 09, taps the card on both, adds 50,000 VND from customer service,
and taps again: each tap is printed as the driver's display shows it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cards.emulator.process import start_card_process  # noqa: E402
from scripts.pcscd import VPCD_READER, start_pcscd  # noqa: E402

SERVER = os.environ.get("TRANSIT_DEMO_SERVER", "http://127.0.0.1:8000")
HOME = ROOT / "instance" / "demo-bus"
BIN = Path(sys.executable).parent


def flask(*args: str) -> str:
    result = subprocess.run(  # noqa: S603  the project's own command
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


# Each bus has its own reader: vpcd's two virtual slots, one TCP port each.
READERS = {"32": (VPCD_READER, 35963), "09": ("Virtual PCD 00 01", 35964)}


def tap(route: str, validator: subprocess.Popen[str], uid: str, state: Path, label: str) -> None:
    port = str(READERS[route][1])
    card = start_card_process(
        "cards.emulator", ["--uid", uid, "--state", str(state), "--port", port]
    )
    assert validator.stdout is not None
    line = json.loads(validator.stdout.readline())
    card.terminate()
    card.communicate(timeout=10)
    print(
        f"  {label:<28} {line['result']:<8} {line['reason']:<22} "
        f"-{line['amount']:>6} đ   số dư {line['balance']} đ",
        flush=True,
    )
    time.sleep(1.0)  # the card leaves the field; pcscd notices within ~0.4 s


def main() -> None:
    try:
        urllib.request.urlopen(SERVER + "/readyz", timeout=3)  # noqa: S310  the local server
    except OSError:
        raise SystemExit(f"no server at {SERVER}: start it with `make run` first") from None
    start_pcscd()
    HOME.mkdir(parents=True, exist_ok=True)
    keys = ROOT / "instance" / "card-keys.json"
    if not keys.exists():
        flask("cards", "keygen")
    uid = "04" + secrets.token_hex(6).upper()
    state = HOME / f"card-{uid}.json"
    card = start_card_process("cards.emulator", ["--uid", uid, "--state", str(state)])
    issued = json.loads(flask("cards", "issue", "--reader", VPCD_READER, "--balance", "30000"))
    card.terminate()
    card.communicate(timeout=10)
    time.sleep(1.0)
    print(f"card {issued['card_number']} issued with 30,000 đ (check code {issued['check_code']})")
    validators = {}
    for route in ("32", "09"):
        device = json.loads(flask("devices", "register", "--route", route))
        config = HOME / f"bus{route}.toml"
        config.write_text(
            f'device_id = "{device["device_id"]}"\nprivate_key = "{device["private_key"]}"\n'
            f'server_url = "{SERVER}"\nreader = "{READERS[route][0]}"\nroute_id = "{route}"\n'
            f'stop_id = "HN0001"\nkeys_file = "../card-keys.json"\njournal = "bus{route}.sqlite3"\n'
        )
        config.chmod(0o600)
    for route in ("32", "09"):
        validators[route] = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "readers.validator", "--config", str(HOME / f"bus{route}.toml")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    try:
        time.sleep(2.0)
        print("bus 32:")
        tap("32", validators["32"], uid, state, "first boarding")
        print("bus 09:")
        tap("09", validators["09"], uid, state, "second boarding")
        tap("09", validators["09"], uid, state, "same card again at once")
        credit = json.loads(
            flask(
                "cards",
                "credit",
                issued["card_number"],
                "50000",
                "--reason",
                "demo: top-up at the counter",
            )
        )
        print(
            f"customer service adds {credit['amount']:,} đ (load {credit['seq']});"
            " waiting for the buses to sync..."
        )
        time.sleep(8.0)
        print("bus 32:")
        tap("32", validators["32"], uid, state, "boarding after the top-up")
        time.sleep(6.0)  # let the validators upload
    finally:
        for validator in validators.values():
            validator.terminate()
            validator.communicate(timeout=10)
    print(
        f"the server has these taps: {SERVER}/api/docs (validator API); "
        f"journals in {HOME.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
