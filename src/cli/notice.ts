import type { Notice } from "../runtime.js";

/** Prints operator notices on stderr; warnings stand out. */
export const stderrNotice: Notice = (level, message) => {
  const line = level === "warn" ? `\n!!! meshroot WARNING: ${message}\n\n` : `meshroot: ${message}\n`;
  process.stderr.write(line);
};
