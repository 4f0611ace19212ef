import { DomainError } from "../errors.js";

/**
 * RFC 7512 `pkcs11:` URIs, the key references of root keys held in a token: the token's label,
 * the key's CKA_ID and CKA_LABEL, and its object class. Only path attributes are read; a query
 * (`?pin-value=…`, `?module-path=…`) is refused, since the module and the PIN come from
 * meshroot's configuration and a PIN must never be stored in a row.
 */
export const PKCS11_SCHEME = "pkcs11:";

export interface Pkcs11Uri {
  /** CKA_LABEL of the token (its label in C_GetTokenInfo). */
  token?: string | undefined;
  /** CKA_ID of the object, as bytes. */
  id?: Uint8Array | undefined;
  /** CKA_LABEL of the object. */
  object?: string | undefined;
  type?: "private" | "public" | "cert" | "secret-key" | "data" | undefined;
}

const TYPES = new Set(["private", "public", "cert", "secret-key", "data"]);
/** RFC 7512 §2.3: characters of a path attribute value that are not percent-encoded. */
const UNRESERVED = /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/;

/** Parses a `pkcs11:` URI; throws `validation_failed` naming `field` for anything else. */
export function parsePkcs11Uri(uri: string, field = "keyUri"): Pkcs11Uri {
  const bad = (why: string) => new DomainError("validation_failed", `${field}: ${why}`, [{ path: field, message: why }]);
  if (!uri.toLowerCase().startsWith(PKCS11_SCHEME)) throw bad("must be an RFC 7512 pkcs11: URI, e.g. pkcs11:token=meshroot;id=%01;type=private");
  const rest = uri.slice(PKCS11_SCHEME.length);
  if (rest.includes("?")) throw bad("must not carry a query (pin-value, module-path): the module and the PIN are meshroot's MESHROOT_PKCS11_* settings");
  const out: Pkcs11Uri = {};
  for (const part of rest.split(";")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw bad(`attribute "${part}" is not name=value`);
    const name = part.slice(0, eq).toLowerCase();
    let bytes: Buffer;
    try {
      bytes = percentDecode(part.slice(eq + 1));
    } catch {
      throw bad(`attribute ${name} has a malformed percent-encoding`);
    }
    if (name === "token") out.token = bytes.toString("utf8");
    else if (name === "object") out.object = bytes.toString("utf8");
    else if (name === "id") out.id = new Uint8Array(bytes);
    else if (name === "type") {
      const type = bytes.toString("utf8");
      if (!TYPES.has(type)) throw bad(`type must be one of ${[...TYPES].join(", ")}`);
      out.type = type as Pkcs11Uri["type"];
    }
    // Other path attributes (manufacturer, model, serial, slot-*, library-*) narrow nothing here.
  }
  if (!out.id && out.object === undefined) throw bad("must name the key by id= (CKA_ID) or object= (CKA_LABEL)");
  if (out.type !== undefined && out.type !== "private") throw bad("must name a private key (type=private)");
  return out;
}

/** Formats a `pkcs11:` URI, percent-encoding every value as RFC 7512 asks (the id byte by byte). */
export function formatPkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  if (uri.token !== undefined) parts.push(`token=${percentEncode(Buffer.from(uri.token, "utf8"))}`);
  if (uri.id) parts.push(`id=${[...uri.id].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`);
  if (uri.object !== undefined) parts.push(`object=${percentEncode(Buffer.from(uri.object, "utf8"))}`);
  if (uri.type !== undefined) parts.push(`type=${uri.type}`);
  return PKCS11_SCHEME + parts.join(";");
}

function percentEncode(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) && c !== ";" ? c : `%${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function percentDecode(value: string): Buffer {
  const out: Buffer[] = [];
  // Literal runs as UTF-8 (whole code points), escapes as the bytes they name.
  for (const [, literal, hex] of value.matchAll(/([^%]+)|%([0-9a-fA-F]{2})?/g)) {
    if (literal !== undefined) out.push(Buffer.from(literal, "utf8"));
    else if (hex !== undefined) out.push(Buffer.from([parseInt(hex, 16)]));
    else throw new Error("bad escape");
  }
  return Buffer.concat(out);
}
