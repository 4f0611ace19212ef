import { randomBytes } from "node:crypto";

/**
 * A certificate serial: 16 random bytes, positive, always 16 bytes long in DER (the top bit is
 * cleared and the next one set, leaving 126 random bits). Returned as lowercase hex.
 */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString("hex");
}
