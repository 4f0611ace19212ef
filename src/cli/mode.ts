import { Option, type Command } from "commander";
import { UsageError, withClientOptions, type ClientOptions } from "./client.js";

// `rotate`, `token create` and `audit verify` existed before client mode, opening the database.
// They keep doing so where no server is named, and call the server when one is: --url or
// MESHROOT_URL picks client mode, --offline forces the database even when MESHROOT_URL is set.

export interface DualModeOptions extends ClientOptions {
  offline?: boolean;
}

/**
 * "client" when --url or MESHROOT_URL is set (and not --offline), else "database". Throws
 * UsageError for --offline with a client flag, or a client flag without a server URL.
 */
export function modeOf(opts: DualModeOptions, env: NodeJS.ProcessEnv = process.env): "client" | "database" {
  const clientFlags = [opts.url !== undefined && "--url", opts.tokenFile !== undefined && "--token-file", opts.token !== undefined && "--token", opts.caFile !== undefined && "--ca-file"].filter(
    (f): f is string => typeof f === "string",
  );
  if (opts.offline) {
    if (clientFlags.length > 0) throw new UsageError(`--offline opens the database directly; it does not go with ${clientFlags.join(", ")}`);
    return "database";
  }
  if (opts.url !== undefined || (env.MESHROOT_URL ?? "") !== "") return "client";
  if (clientFlags.length > 0) throw new UsageError(`${clientFlags.join(", ")} ${clientFlags.length > 1 ? "are" : "is a"} client-mode flag${clientFlags.length > 1 ? "s" : ""}: set MESHROOT_URL or --url to name the server`);
  return "database";
}

/** The client flags (without --output) plus --offline, for a command that runs in either mode. */
export function withDualModeOptions(cmd: Command): Command {
  return withClientOptions(cmd, false).addOption(new Option("--offline", "open the database (MESHROOT_DATA_DIR) even when MESHROOT_URL is set"));
}
