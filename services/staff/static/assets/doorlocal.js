// Deciding a scan without the network, from the screening's door snapshot and the public keys
// (docs/door.md): a signed code is verified with Ed25519 (WebCrypto), then found by its ticket
// digest; a booking's HMAC code is found by its SHA-256 digest.

const encoder = new TextEncoder();
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(text) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = B32.indexOf(char);
    if (index < 0) return null;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(bytes);
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(text) {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

async function sha12(bytes) {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).slice(0, 12));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function verify(keys, data) {
  const key = keys.find((k) => k.id === data[1]);
  if (!key) return false;
  try {
    const imported = await crypto.subtle.importKey("raw", fromB64url(key.public_key), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify("Ed25519", imported, data.slice(19), concat(encoder.encode("usher door code"), data.slice(0, 19)));
  } catch {
    return false; // a browser without Ed25519: no signed code is taken for genuine
  }
}

// The tickets a code names in the snapshot: [] when genuine but unknown; null when forged.
async function ticketsOf(snapshot, keys, text) {
  const code = text.trim().toUpperCase();
  if (code.startsWith("USHER1:")) {
    const party = snapshot.legacy[await sha12(encoder.encode(code))];
    return party ? snapshot.tickets.filter((t) => t[1] === party) : null;
  }
  if (!code.startsWith("USHER2:")) return null;
  const data = base32(code.slice(7));
  if (!data || data.length !== 83 || data[0] !== 1 || !(await verify(keys, data))) return null;
  const digest = await sha12(concat(encoder.encode("usher door ticket"), data.slice(2, 19)));
  if (data[18] === 0) return snapshot.tickets.filter((t) => t[1] === digest);
  return snapshot.tickets.filter((t) => t[0] === digest);
}

// The answer a door gives offline, in the API's shape; admitted tickets are marked in the
// snapshot so that a second scan of them is refused as already admitted.
export async function decideOffline(snapshot, keys, text, scannedAt, door) {
  const found = await ticketsOf(snapshot, keys, text);
  if (found === null) return { result: "refused", reason: "forged", message: "Not a genuine ticket code.", tickets: [] };
  if (found.length === 0) return { result: "refused", reason: "unknown", message: "Unknown ticket for this screening.", tickets: [] };
  if (found.some((t) => t[6] === "revoked")) return { result: "refused", reason: "cancelled", message: "This booking was cancelled.", tickets: [] };
  if (scannedAt < new Date(snapshot.doors_open_at)) {
    return { result: "refused", reason: "not_open", message: "The doors are not open yet.", tickets: [] };
  }
  const waiting = snapshot.reentry ? found : found.filter((t) => t[6] !== "admitted");
  const shape = (t, status) => ({ number: t[2], seat: t[3], seat_kind: t[4], ticket_type: t[5], status, door: t.door || null });
  if (waiting.length === 0) {
    return { result: "refused", reason: "already_admitted", message: "Already admitted (offline).", tickets: found.map((t) => shape(t, "already_admitted")) };
  }
  for (const t of waiting) {
    t[6] = "admitted";
    t.door = door;
  }
  const seats = waiting.map((t) => t[3]).join(", ");
  return {
    result: "admitted",
    reason: null,
    message: `Admit ${waiting.length === 1 ? "1 person" : `${waiting.length} people`}: ${seats}.`,
    tickets: found.map((t) => shape(t, waiting.includes(t) ? "admitted" : "already_admitted")),
    needs: waiting.flatMap((t) => t[7]),
  };
}
