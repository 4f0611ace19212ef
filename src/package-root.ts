import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The installed package's folder: the nearest folder above this module that holds package.json
 * and migrations/. Works from the sources, from dist/src and from the single-file dist/meshroot.js.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "migrations"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`meshroot's package folder (package.json and migrations/) not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
