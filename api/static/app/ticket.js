// The QR ticket as the rider's phone makes it (docs/qr-ticket.md; wire/qr.py is the other end).
// The credential comes from the backend as bytes and goes into every ticket unchanged; the phone
// adds the time and signs with its own key (WebCrypto ECDSA P-256, made non-extractable). A plain
// ES module with no dependencies: the app imports it, and so does the test of the vector.

const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
export const PREFIX = "HT1:";
export const REFRESH_SECONDS = 30; // a validator takes a code up to 45 s old: re-sign well before
const ES256 = -7;
const COSE_SIGN1 = 18;

export function b45encode(bytes) {
  let out = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const n = bytes[i] * 256 + bytes[i + 1];
    out += BASE45[n % 45] + BASE45[Math.floor(n / 45) % 45] + BASE45[Math.floor(n / 2025)];
  }
  if (bytes.length % 2) {
    const last = bytes[bytes.length - 1];
    out += BASE45[last % 45] + BASE45[Math.floor(last / 45)];
  }
  return out;
}

export function b45decode(text) {
  if (text.length % 3 === 1) throw new Error("base45: a dangling character");
  const out = [];
  for (let i = 0; i < text.length; i += 3) {
    const values = [...text.slice(i, i + 3)].map((char) => {
      const value = BASE45.indexOf(char);
      if (value < 0) throw new Error("base45: a character outside the alphabet");
      return value;
    });
    const n = values.reduce((sum, value, place) => sum + value * 45 ** place, 0);
    if (values.length === 3) {
      if (n > 0xffff) throw new Error("base45: a group above 65535");
      out.push(n >> 8, n & 0xff);
    } else {
      if (n > 0xff) throw new Error("base45: a last group above 255");
      out.push(n);
    }
  }
  return Uint8Array.from(out);
}

// -- CBOR, the little a ticket needs: unsigned and negative integers, byte and text strings,
// arrays, maps with integer keys (written in the order given: the canonical order for ours),
// and a tag.

function head(major, value) {
  const first = major << 5;
  if (value < 24) return [first | value];
  if (value < 0x100) return [first | 24, value];
  if (value < 0x10000) return [first | 25, value >> 8, value & 0xff];
  if (value < 0x100000000) return [first | 26, ...uint32(value)];
  return [first | 27, ...uint32(Math.floor(value / 0x100000000)), ...uint32(value >>> 0)];
}

function uint32(value) {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

export class Tagged {
  constructor(tag, value) {
    this.tag = tag;
    this.value = value;
  }
}

export function cbor(item) {
  const out = [];
  const put = (value) => {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new Error("CBOR: integers only");
      out.push(...(value >= 0 ? head(0, value) : head(1, -1 - value)));
    } else if (value instanceof Uint8Array) {
      out.push(...head(2, value.length), ...value);
    } else if (typeof value === "string") {
      const bytes = new TextEncoder().encode(value);
      out.push(...head(3, bytes.length), ...bytes);
    } else if (Array.isArray(value)) {
      out.push(...head(4, value.length));
      value.forEach(put);
    } else if (value instanceof Map) {
      out.push(...head(5, value.size));
      for (const [key, entry] of value) {
        put(key);
        put(entry);
      }
    } else if (value instanceof Tagged) {
      out.push(...head(6, value.tag));
      put(value.value);
    } else {
      throw new Error("CBOR: a value a ticket does not hold");
    }
  };
  put(item);
  return Uint8Array.from(out);
}

// -- the ticket ---------------------------------------------------------------------------

// The phone's key: ECDSA P-256, usable only to sign, never readable (kept in IndexedDB).
export function newPhoneKey() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

// What the backend certifies: the public key as WebCrypto exports it (65 bytes).
export async function publicKeyBytes(keyPair) {
  return new Uint8Array(await crypto.subtle.exportKey("raw", keyPair.publicKey));
}

// The text of the QR code: the credential (bytes from the backend) signed at `signedAt` (unix
// seconds on the server's clock: the app corrects its own by the offset it last saw).
export async function signTicket(credential, signedAt, privateKey) {
  const protectedHeader = cbor(new Map([[1, ES256]]));
  const payload = cbor(new Map([[1, credential], [2, signedAt]]));
  const toBeSigned = cbor(["Signature1", protectedHeader, new Uint8Array(0), payload]);
  // WebCrypto's ECDSA signature is r || s, 64 bytes: COSE's form as it is.
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, toBeSigned),
  );
  const message = cbor(new Tagged(COSE_SIGN1, [protectedHeader, new Map(), payload, signature]));
  return PREFIX + b45encode(message);
}
