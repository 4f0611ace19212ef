// The dashboard talks to meshroot only through the public REST API, with the user's token.

const TOKEN_KEY = "meshroot.token";

/** A problem+json answer (RFC 9457) of the API, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The token lives in this tab's sessionStorage only: never a URL, a cookie or localStorage. */
export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

let unauthorized: (err: ApiError) => void = () => {};
/** Called when the API refuses the stored token (401): the app signs out with the API's reason. */
export function onUnauthorized(handler: (err: ApiError) => void): void {
  unauthorized = handler;
}

async function request(path: string, token: string | null): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, credentials: "omit", cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network", `meshroot could not be reached (${(err as Error).message})`);
  }
  if (res.ok) return res;
  let code = "http_" + res.status;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const problem = (await res.json()) as { code?: string; detail?: string };
    code = problem.code ?? code;
    detail = problem.detail ?? detail;
  } catch {
    /* not problem+json: keep the status line */
  }
  const err = new ApiError(res.status, code, detail);
  if (res.status === 401 && token === session.token()) unauthorized(err);
  throw err;
}

/** GET a JSON resource with the session's token (or the given one); throws ApiError. */
export async function getJson<T>(path: string, token: string | null = session.token()): Promise<T> {
  return (await (await request(path, token)).json()) as T;
}

/** GET raw bytes (a DER CRL). */
export async function getBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await (await request(path, session.token())).arrayBuffer());
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Every item of a paged collection, following nextCursor with the largest page the API allows; `first` is its first page when already fetched. */
export async function getAll<T>(path: string, limit = 500, first?: Page<T>): Promise<T[]> {
  const items: T[] = first ? [...first.items] : [];
  let cursor: string | null = first ? first.nextCursor : null;
  if (first && !cursor) return items;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const url: string = `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page: Page<T> = await getJson<Page<T>>(url);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

export const enc = encodeURIComponent;

/** The fleet's first page, fetched by the sign-in check and handed to the overview (once) to save a round trip. */
let firstFleetPage: Page<unknown> | undefined;
export const FLEET_PAGE = "/v1/fleet?limit=500";
export function keepFirstFleetPage(page: Page<unknown>): void {
  firstFleetPage = page;
}
export function takeFirstFleetPage<T>(): Page<T> | undefined {
  const page = firstFleetPage as Page<T> | undefined;
  firstFleetPage = undefined;
  return page;
}
