"""The rider app's ticket code (api/static/app/ticket.js), run by node, against the vector: its
base45 and CBOR make the vector's bytes, and the ticket it signs passes the validator's check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.required import program
from tests.unit.wire import qr_vector
from tests.unit.wire.test_qr import verify

SCRIPT = Path(__file__).resolve().parents[2] / "js" / "ticket_vector.mjs"


def test_the_app_makes_tickets_the_validator_accepts() -> None:
    node = program("node", "nodejs")
    ran = subprocess.run(
        [node, str(SCRIPT)], capture_output=True, text=True, check=False, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["base45"] is True
    assert result["structure"] is True
    vector = qr_vector.load()
    ticket = verify(result["ticket"], vector["accepted_at"])
    assert ticket.credential == qr_vector.credential()
    assert ticket.signed_at == vector["signed_at"]
