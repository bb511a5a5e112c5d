// The rider app's ticket code (api/static/app/ticket.js) against the test vector
// (tests/data/qr-ticket-vector.json). Run by tests/unit/wire/test_qr_app.py with node; prints
// one JSON line: the checks' results and a ticket it signed, which Python then verifies.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { b45decode, b45encode, signTicket } from "../../api/static/app/ticket.js";

if (!globalThis.crypto) globalThis.crypto = webcrypto;
const vector = JSON.parse(readFileSync(new URL("../data/qr-ticket-vector.json", import.meta.url)));
const hex = (text) => Uint8Array.from(text.match(/../g).map((pair) => parseInt(pair, 16)));
const same = (a, b) => a.length === b.length && a.every((value, i) => value === b[i]);

const base45 = vector.base45.every(
  ([data, text]) =>
    b45encode(new TextEncoder().encode(data)) === text &&
    new TextDecoder().decode(b45decode(text)) === data,
);
const key = await crypto.subtle.importKey(
  "pkcs8",
  Buffer.from(vector.phone_private_pkcs8, "base64"),
  { name: "ECDSA", namedCurve: "P-256" },
  false,
  ["sign"],
);
const credential = hex(vector.credential);
const ticket = await signTicket(credential, vector.signed_at, key);
// ECDSA is randomised: everything but the last 64 bytes (the signature) is the vector's.
const ours = b45decode(ticket.slice(4));
const theirs = b45decode(vector.ticket.slice(4));
const structure = same(ours.slice(0, -64), theirs.slice(0, -64));
console.log(JSON.stringify({ base45, structure, prefix: ticket.slice(0, 4), ticket }));
