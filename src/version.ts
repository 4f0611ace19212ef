import { readFileSync } from "node:fs";

/** meshroot's version, from package.json. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL(import.meta.url.includes("/dist/") ? "../../package.json" : "../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
