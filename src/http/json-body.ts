import type { FastifyRequest } from "fastify";
import sjson from "secure-json-parse";

/**
 * The JSON body parser: fastify's default refuses `__proto__` and `constructor.prototype` keys
 * the same way (secure-json-parse), but says only "not valid JSON"; this one says what is wrong
 * and where (line, column, offset), so a hand-written curl body can be fixed.
 */

/** A 400 the error handler renders as `invalid_json` with this message as the detail. */
function invalidJson(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400, code: "FST_ERR_CTP_INVALID_JSON_BODY" });
}

const parse = (text: string) => sjson.parse(text, undefined, { protoAction: "error", constructorAction: "error" }) as unknown;

/** Whether a prefix fails only because it stops early (V8 reports some of those at its last offset). */
const endOfInput = (text: string) => {
  try {
    JSON.parse(text);
    return false;
  } catch (err) {
    if (!(err instanceof SyntaxError)) return false;
    const at = /at position (\d+)/.exec(err.message);
    return at ? Number(at[1]) >= text.length : /end of JSON input|Unterminated/i.test(err.message);
  }
};

/**
 * Offset of the first character JSON cannot continue with: the shortest prefix whose error is
 * not "unexpected end". Node's messages carry the offset for some errors only.
 */
export function errorOffset(text: string, message: string): number {
  const at = /at position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  if (/end of JSON input/i.test(message)) return text.length;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (endOfInput(text.slice(0, mid + 1))) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "line L, column C (offset N)" of an offset. */
export function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${column} (offset ${offset})`;
}

export function jsonBodyParser(_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void {
  const text = typeof body === "string" ? body : body.toString("utf8");
  if (text.length === 0) {
    done(invalidJson("the body is empty; send a JSON object"));
    return;
  }
  try {
    done(null, parse(text));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/forbidden prototype property|constructor/i.test(message)) {
      done(invalidJson("the body holds a __proto__ or constructor.prototype key, which is refused"));
      return;
    }
    // Node's message may quote the whole body: name only the reason.
    const reason = message.replace(/, ".*" is not valid JSON$/s, "").replace(/ in JSON at position \d+.*$/s, "");
    done(invalidJson(`the body is not valid JSON: ${reason} at ${position(text, errorOffset(text, message))}`));
  }
}
