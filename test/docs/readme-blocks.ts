/** A shell block of the README that the README test runs. */
export interface ReadmeBlock {
  /** `run`: as written; `kubernetes`: needs a cluster, so it runs against the checking fake kubectl. */
  kind: "run" | "kubernetes";
  /** `, retried`: a CI step that must succeed again when re-run as it is (the test runs it twice). */
  retried: boolean;
  /** The nearest heading above it, as written (`## Quick start`). */
  heading: string;
  /** 1-based line of its opening fence. */
  line: number;
  code: string;
}

const MARKER = /^<!-- readme-test(?:: (run|kubernetes)(, retried)?)? -->$/;

/**
 * The README's walk-through: every ```sh block preceded (blank lines allowed) by
 * `<!-- readme-test -->` or `<!-- readme-test: kubernetes -->` (either may add `, retried`), in
 * order. Throws on a marker that is not followed by a ```sh block, and on a comment that starts
 * like a marker but is not one, so a marker is never silently dropped.
 */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split("\n");
  const blocks: ReadmeBlock[] = [];
  let heading = "(top)";
  let pending: { kind: ReadmeBlock["kind"]; retried: boolean; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const fence = /^(`{3,})(.*)$/.exec(text);
    if (fence) {
      const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!) && l.trim() === fence[1]);
      if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code fence`);
      if (pending) {
        if (fence[2]!.trim() !== "sh") throw new Error(`README.md:${pending.line}: the marker is followed by a \`\`\`${fence[2]} block, not \`\`\`sh`);
        blocks.push({ kind: pending.kind, retried: pending.retried, heading, line: i + 1, code: lines.slice(i + 1, end).join("\n") });
        pending = undefined;
      }
      i = end;
      continue;
    }
    const marker = MARKER.exec(text.trim());
    if (marker) {
      pending = { kind: (marker[1] ?? "run") as ReadmeBlock["kind"], retried: marker[2] !== undefined, line: i + 1 };
    } else if (text.includes("<!-- readme-test")) {
      throw new Error(`README.md:${i + 1}: not a readme-test marker: ${text.trim()}`);
    } else if (/^#{1,6} /.test(text)) {
      if (pending) throw new Error(`README.md:${pending.line}: marker without a following \`\`\`sh block`);
      heading = text.trim();
    } else if (text.trim() && pending) {
      throw new Error(`README.md:${pending.line}: the marker must come right before its \`\`\`sh block`);
    }
  }
  if (pending) throw new Error(`README.md:${pending.line}: marker without a following \`\`\`sh block`);
  return blocks;
}
