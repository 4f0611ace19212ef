import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, serverSettings } from "../../src/config.js";
import { openConfiguredHsm } from "../../src/keys/pkcs11-dispatch.js";
import { tempDir } from "../helpers.js";

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
}

describe("MESHROOT_PKCS11_* settings", () => {
  it("are off by default and parsed together", () => {
    expect(parseConfig({}).pkcs11).toBeUndefined();
    expect(parseConfig({ MESHROOT_PKCS11_MODULE: "/lib/p11.so", MESHROOT_PKCS11_TOKEN: "meshroot", MESHROOT_PKCS11_PIN_FILE: "/run/pin" }).pkcs11).toEqual({
      module: "/lib/p11.so",
      token: "meshroot",
      pin: undefined,
      pinFile: "/run/pin",
      masterKey: false,
    });
    for (const name of ["MESHROOT_PKCS11_MODULE", "MESHROOT_PKCS11_TOKEN", "MESHROOT_PKCS11_PIN", "MESHROOT_PKCS11_PIN_FILE"]) {
      expect(serverSettings().map((s) => s.name)).toContain(name);
    }
  });

  it("name what is missing or doubled, and never echo the PIN", () => {
    expect(problems({ MESHROOT_PKCS11_MODULE: "/lib/p11.so" })).toEqual([
      "MESHROOT_PKCS11_TOKEN: MESHROOT_PKCS11_MODULE needs the label of the token to use",
      "MESHROOT_PKCS11_PIN_FILE: MESHROOT_PKCS11_MODULE needs the token's PIN: MESHROOT_PKCS11_PIN_FILE or MESHROOT_PKCS11_PIN",
    ]);
    const both = problems({ MESHROOT_PKCS11_MODULE: "/lib/p11.so", MESHROOT_PKCS11_TOKEN: "t", MESHROOT_PKCS11_PIN: "secret-pin-1234", MESHROOT_PKCS11_PIN_FILE: "/run/pin" });
    expect(both).toEqual(["MESHROOT_PKCS11_PIN: set MESHROOT_PKCS11_PIN or MESHROOT_PKCS11_PIN_FILE, not both"]);
    expect(problems({ MESHROOT_PKCS11_PIN: "secret-pin-1234" })[0]).toMatch(/^MESHROOT_PKCS11_MODULE: the MESHROOT_PKCS11_\* settings need MESHROOT_PKCS11_MODULE/);
    expect(JSON.stringify([...both, ...problems({ MESHROOT_PKCS11_PIN: "secret-pin-1234" })])).not.toContain("secret-pin-1234");
  });

  it("take the master key from the token only instead of MESHROOT_MASTER_KEY(_FILE), also in production", () => {
    const hsm = { MESHROOT_PKCS11_MODULE: "/lib/p11.so", MESHROOT_PKCS11_TOKEN: "t", MESHROOT_PKCS11_PIN_FILE: "/run/pin" };
    expect(parseConfig(hsm).pkcs11?.masterKey).toBe(false);
    expect(parseConfig({ ...hsm, MESHROOT_PKCS11_MASTER_KEY: "true", MESHROOT_ENV: "production" }).pkcs11?.masterKey).toBe(true);
    expect(problems({ ...hsm, MESHROOT_PKCS11_MASTER_KEY: "true", MESHROOT_MASTER_KEY_FILE: "/k" })[0]).toMatch(/^MESHROOT_PKCS11_MASTER_KEY: the master key is either in the HSM/);
    expect(problems({ MESHROOT_PKCS11_MASTER_KEY: "true" })).toContain("MESHROOT_PKCS11_MASTER_KEY: a master key in the HSM needs MESHROOT_PKCS11_MODULE and the token settings");
    expect(problems({ ...hsm, MESHROOT_ENV: "production" })[0]).toMatch(/^MESHROOT_MASTER_KEY_FILE: production needs an explicit master key/);
  });

  it("refuses at start a PIN file that cannot be read or is empty, naming it", () => {
    const dir = tempDir();
    const settings = { module: "/lib/p11.so", token: "t", pin: undefined };
    expect(() => openConfiguredHsm({ ...settings, pinFile: join(dir, "absent") })).toThrow(expect.objectContaining({ code: "config_invalid", message: expect.stringContaining(`MESHROOT_PKCS11_PIN_FILE ${join(dir, "absent")} cannot be read: ENOENT`) }));
    writeFileSync(join(dir, "empty"), "\n");
    expect(() => openConfiguredHsm({ ...settings, pinFile: join(dir, "empty") })).toThrow(expect.objectContaining({ code: "config_invalid", message: expect.stringContaining("is empty") }));
    expect(openConfiguredHsm(undefined)).toBeUndefined();
  });
});
