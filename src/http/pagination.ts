import { DomainError } from "../errors.js";

/** Encodes the sort key of a page's last item as an opaque cursor. */
export function encodeCursor(after: string): string {
  return Buffer.from(JSON.stringify({ a: after }), "utf8").toString("base64url");
}

/** Decodes a cursor from `encodeCursor`; throws `validation_failed` for anything else. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { a?: unknown };
    if (typeof parsed.a === "string") return parsed.a;
  } catch {
    /* fall through */
  }
  throw new DomainError("validation_failed", "cursor is not a cursor this API returned", [
    { path: "querystring.cursor", message: "invalid cursor" },
  ]);
}

/**
 * Runs a page query asking for one item more than `limit`, and returns the page with the cursor
 * of its last item when more follow.
 */
export async function paginate<T, V>(
  query: { limit: number; cursor?: string | undefined },
  fetch: (page: { limit: number; after: string | undefined }) => Promise<T[]>,
  keyOf: (item: T) => string,
  view: (item: T) => V,
): Promise<{ items: V[]; nextCursor: string | null }> {
  const rows = await fetch({ limit: query.limit + 1, after: decodeCursor(query.cursor) });
  const more = rows.length > query.limit;
  const page = more ? rows.slice(0, query.limit) : rows;
  return { items: page.map(view), nextCursor: more ? encodeCursor(keyOf(page[page.length - 1]!)) : null };
}

/** Splits a decoded cursor `<number>[:<rest>]` after checking its shape; throws `validation_failed`. */
export function cursorPart(raw: string, shape: RegExp): { seq: number; rest: string } {
  if (!shape.test(raw)) {
    throw new DomainError("validation_failed", "cursor is not a cursor this API returned", [{ path: "querystring.cursor", message: "invalid cursor" }]);
  }
  const [seq, rest = ""] = raw.split(":");
  return { seq: Number(seq), rest };
}
