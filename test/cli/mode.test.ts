import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/client.js";
import { modeOf } from "../../src/cli/mode.js";
import { fields, integer, label, query, table } from "../../src/cli/output.js";

describe("modeOf (token create, rotate, audit verify)", () => {
  it("client mode when a server is named, the database otherwise", () => {
    expect(modeOf({}, {})).toBe("database");
    expect(modeOf({}, { MESHROOT_URL: "" })).toBe("database");
    expect(modeOf({}, { MESHROOT_URL: "https://meshroot.example.com" })).toBe("client");
    expect(modeOf({ url: "http://127.0.0.1:8080" }, {})).toBe("client");
  });

  it("--offline forces the database, and goes with no client flag", () => {
    expect(modeOf({ offline: true }, { MESHROOT_URL: "https://meshroot.example.com", MESHROOT_TOKEN: "t" })).toBe("database");
    expect(() => modeOf({ offline: true, url: "https://x" }, {})).toThrow(/--offline opens the database directly; it does not go with --url/);
    expect(() => modeOf({ offline: true, tokenFile: "f", caFile: "c" }, {})).toThrow(UsageError);
  });

  it("a client flag without a server URL is a usage error, not a silent database run", () => {
    expect(() => modeOf({ tokenFile: "f" }, {})).toThrow(/^--token-file is a client-mode flag: set MESHROOT_URL or --url/);
    expect(() => modeOf({ token: "t", caFile: "c" }, {})).toThrow(/^--token, --ca-file are client-mode flags/);
  });
});

describe("output helpers", () => {
  it("table aligns columns, prints - for missing cells and trims milliseconds of timestamps", () => {
    expect(table(["NAME", "N", "AT"], [["east", 1, "2027-03-01T12:00:00.000Z"], ["a-longer-name", null, undefined]])).toBe(
      "NAME           N  AT\neast           1  2027-03-01T12:00:00Z\na-longer-name  -  -",
    );
    expect(table(["A"], [], "nothing")).toBe("nothing");
    expect(fields([["name", "east"], ["revoked", null]])).toBe("name:    east\nrevoked: -");
  });

  it("query keeps defined values; label and integer parse flags or refuse them", () => {
    expect(query({ a: "1", b: undefined, crl: true, off: false, n: 500 })).toBe("?a=1&crl=true&n=500");
    expect(query({})).toBe("");
    expect(label("region=eu", label("env=prod"))).toEqual({ env: "prod", region: "eu" });
    expect(() => label("novalue")).toThrow(/key=value/);
    expect(integer(1, 3650)("90")).toBe(90);
    expect(() => integer(1, 3650)("0")).toThrow(/1-3650/);
    expect(() => integer(1, 3650)("9x")).toThrow();
  });
});
