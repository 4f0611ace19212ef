import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, serverSettings, settingsHelp, unknownSettings } from "../src/config.js";

const problems = (env: Record<string, string>) => {
  try {
    parseConfig(env);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
};

describe("configuration", () => {
  it("has the documented defaults and is frozen", () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ env: "development", host: "127.0.0.1", port: 8080, logLevel: "info", tls: undefined, publicUrl: undefined });
    expect(c.dataDir).toMatch(/\/data$/);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("treats empty variables as unset", () => {
    expect(parseConfig({ MESHROOT_PORT: "", MESHROOT_ADMIN_TOKEN: "" }).port).toBe(8080);
  });

  it("names each bad value", () => {
    expect(problems({ MESHROOT_PORT: "http", MESHROOT_LOG_LEVEL: "loud", MESHROOT_ENV: "prod" }).join("\n")).toMatch(
      /MESHROOT_ENV[\s\S]*MESHROOT_PORT[\s\S]*MESHROOT_LOG_LEVEL|MESHROOT_PORT/,
    );
    expect(problems({ MESHROOT_PORT: "70000" })[0]).toMatch(/^MESHROOT_PORT:/);
    expect(problems({ MESHROOT_ADMIN_TOKEN: "short" })[0]).toMatch(/MESHROOT_ADMIN_TOKEN: must be at least 32/);
    expect(problems({ MESHROOT_PUBLIC_URL: "not a url" })[0]).toMatch(/^MESHROOT_PUBLIC_URL:/);
  });

  it("production refuses to start without an explicit master key", () => {
    expect(problems({ MESHROOT_ENV: "production" })[0]).toMatch(/production needs an explicit master key/);
    expect(problems({ MESHROOT_ENV: "production", MESHROOT_MASTER_KEY_FILE: "/run/secrets/k" })).toEqual([]);
    expect(problems({ MESHROOT_MASTER_KEY_FILE: "/k", MESHROOT_MASTER_KEY: "x" })[0]).toMatch(/not both/);
  });

  it("refuses a non-loopback address without TLS unless explicitly allowed", () => {
    expect(problems({ MESHROOT_HOST: "0.0.0.0" })[0]).toMatch(/MESHROOT_ALLOW_INSECURE_HTTP/);
    expect(problems({ MESHROOT_HOST: "0.0.0.0", MESHROOT_ALLOW_INSECURE_HTTP: "true" })).toEqual([]);
    expect(problems({ MESHROOT_HOST: "0.0.0.0", MESHROOT_TLS_CERT_FILE: "/c", MESHROOT_TLS_KEY_FILE: "/k" })).toEqual([]);
    expect(problems({ MESHROOT_HOST: "localhost" })).toEqual([]);
    expect(problems({ MESHROOT_HOST: "::1" })).toEqual([]);
  });

  it("needs TLS files in pairs, and TLS for client certificates", () => {
    expect(problems({ MESHROOT_TLS_CERT_FILE: "/c" })[0]).toMatch(/go together/);
    expect(problems({ MESHROOT_TLS_CLIENT_CA_FILE: "/ca" })[0]).toMatch(/needs TLS/);
  });
});

describe("lifecycle configuration", () => {
  it("validates the rotation schedule and the CRL validity", () => {
    expect(parseConfig({ MESHROOT_ROTATION_SCHEDULE: "0 3 * * *" }).rotationSchedule).toBe("0 3 * * *");
    expect(problems({ MESHROOT_ROTATION_SCHEDULE: "every night" })[0]).toMatch(/^MESHROOT_ROTATION_SCHEDULE: must be a cron expression/);
    expect(problems({ MESHROOT_ROTATION_SCHEDULE: "99 * * * *" })[0]).toMatch(/MESHROOT_ROTATION_SCHEDULE/);
    expect(parseConfig({}).crlValidityMs).toBe(7 * 86_400_000);
    expect(parseConfig({ MESHROOT_CRL_VALIDITY_HOURS: "24" }).crlValidityMs).toBe(86_400_000);
    expect(problems({ MESHROOT_CRL_VALIDITY_HOURS: "0" })[0]).toMatch(/MESHROOT_CRL_VALIDITY_HOURS/);
    expect(parseConfig({}).observationMaxAgeMs).toBe(86_400_000);
    expect(parseConfig({ MESHROOT_OBSERVATION_MAX_AGE: "6" }).observationMaxAgeMs).toBe(6 * 3_600_000);
    expect(problems({ MESHROOT_OBSERVATION_MAX_AGE: "1.5" })[0]).toMatch(/MESHROOT_OBSERVATION_MAX_AGE/);
    expect(parseConfig({ MESHROOT_PUBLIC_URL: "https://ca.example.com/" }).publicUrl).toBe("https://ca.example.com");
  });
});

describe("proxy and metrics configuration", () => {
  it("MESHROOT_TRUST_PROXY: off by default; true, a hop count, or addresses/CIDRs", () => {
    expect(parseConfig({}).trustProxy).toBe(false);
    expect(parseConfig({ MESHROOT_TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(parseConfig({ MESHROOT_TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(parseConfig({ MESHROOT_TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(parseConfig({ MESHROOT_TRUST_PROXY: "10.0.0.0/8, 192.168.1.7,fd00::/8" }).trustProxy).toEqual(["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
    for (const bad of ["yes please", "10.0.0.0/33", "10.0.0.0/8/1", "lb.internal", "fd00::/129"]) {
      expect(problems({ MESHROOT_TRUST_PROXY: bad })[0], bad).toMatch(/^MESHROOT_TRUST_PROXY:/);
    }
  });

  it("MESHROOT_METRICS_TOKEN_REQUIRED: off by default", () => {
    expect(parseConfig({}).metricsTokenRequired).toBe(false);
    expect(parseConfig({ MESHROOT_METRICS_TOKEN_REQUIRED: "true" }).metricsTokenRequired).toBe(true);
    expect(problems({ MESHROOT_METRICS_TOKEN_REQUIRED: "maybe" })[0]).toMatch(/^MESHROOT_METRICS_TOKEN_REQUIRED:/);
  });
});

describe("settings help and unknown variables", () => {
  it("lists every setting the schema reads, each with a description and its default", () => {
    const settings = serverSettings();
    expect(settings.map((s) => s.name)).toContain("MESHROOT_DATA_DIR");
    for (const s of settings) expect(s.description, s.name).not.toBe("");
    expect(settings.find((s) => s.name === "MESHROOT_PORT")?.defaultValue).toBe("8080");
    expect(settings.find((s) => s.name === "MESHROOT_TLS_CERT_FILE")?.defaultValue).toBeUndefined();
    // Every setting parseConfig accepts is listed: an unlisted one would be refused as unknown here.
    const help = settingsHelp();
    for (const s of settings) expect(help).toMatch(new RegExp(`^  ${s.name} +\\S`, "m"));
  });

  it("names unknown MESHROOT_* variables and the setting a typo probably meant", () => {
    expect(unknownSettings({ MESHROOT_DATADIR: "/x", HOME: "/root" })).toEqual([
      "MESHROOT_DATADIR is not a meshroot setting and is ignored (did you mean MESHROOT_DATA_DIR?); see meshroot serve --help",
    ]);
    expect(unknownSettings({ MESHROOT_LOGLEVEL: "debug" })[0]).toMatch(/did you mean MESHROOT_LOG_LEVEL\?/);
    expect(unknownSettings({ MESHROOT_PROT: "8080" })[0]).toMatch(/did you mean MESHROOT_PORT\?/);
    expect(unknownSettings({ MESHROOT_MASTERKEY_FILE: "/k" })[0]).toMatch(/did you mean MESHROOT_MASTER_KEY_FILE\?/);
    expect(unknownSettings({ MESHROOT_SOMETHING_ELSE_ENTIRELY: "1" })[0]).not.toMatch(/did you mean/);
  });

  it("knows the server's settings and the CLI client's", () => {
    const env = Object.fromEntries(serverSettings().map((s) => [s.name, "x"]));
    expect(unknownSettings({ ...env, MESHROOT_URL: "u", MESHROOT_TOKEN: "t", MESHROOT_TOKEN_FILE: "f", MESHROOT_CA_FILE: "c" })).toEqual([]);
  });
});
