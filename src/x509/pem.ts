import { DomainError } from "../errors.js";

export interface PemBlock {
  label: string;
  der: Uint8Array<ArrayBuffer>;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Parses every PEM block in `text`. Throws `invalid_pem` (naming `field`) when there is none, a
 * block's END label differs from its BEGIN, the body is not base64, or it has PEM headers
 * (encrypted PEM keys are refused here).
 */
export function parsePem(text: string, field: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body = "", end] = m;
    if (begin !== end) throw new DomainError("invalid_pem", `${field}: PEM block BEGIN ${begin} ends with END ${end}`);
    if (body.includes(":")) {
      throw new DomainError("invalid_pem", `${field}: PEM block ${begin} has headers (encrypted PEM is not accepted)`);
    }
    const b64 = body.replace(/\s+/g, "");
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new DomainError("invalid_pem", `${field}: PEM block ${begin} is not valid base64`);
    }
    blocks.push({ label: begin!, der: new Uint8Array(Buffer.from(b64, "base64")) });
  }
  if (blocks.length === 0) throw new DomainError("invalid_pem", `${field}: no PEM block found`);
  return blocks;
}

/** Parses exactly one PEM block whose label is one of `labels`; throws `invalid_pem` otherwise. */
export function parseSinglePem(text: string, field: string, labels: readonly string[]): PemBlock {
  const blocks = parsePem(text, field);
  if (blocks.length !== 1) throw new DomainError("invalid_pem", `${field}: expected one PEM block, found ${blocks.length}`);
  const block = blocks[0]!;
  if (!labels.includes(block.label)) {
    throw new DomainError("invalid_pem", `${field}: expected PEM ${labels.join(" or ")}, found ${block.label}`);
  }
  return block;
}

/** Encodes DER as PEM with 64-character lines and a trailing newline. */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
