import "reflect-metadata";
import { createCore } from "../src/core/core.js";
import { envelopeVault } from "../src/keys/envelope-vault.js";
import { sealedRootKeys } from "../src/keys/sealed-root-keys.js";
import { systemClock } from "../src/clock.js";
import { buildApp } from "../src/http/app.js";
import { openDatabase } from "../src/store/sqlite/database.js";
import { migrate } from "../src/store/sqlite/migrate.js";
import { sqliteStore } from "../src/store/sqlite/sqlite-store.js";

/** The OpenAPI document as the app generates it from its route schemas, as pretty JSON. */
export async function openApiDocument(): Promise<string> {
  const db = openDatabase(":memory:");
  migrate(db);
  const vault = envelopeVault(new Uint8Array(32));
  const core = createCore({ store: sqliteStore(db), rootKeys: sealedRootKeys(vault), vault, crypto: globalThis.crypto, clock: systemClock });
  const app = await buildApp({ core, clock: systemClock, readiness: () => ({ ready: true, checks: {} }) });
  await app.ready();
  const doc = `${JSON.stringify(app.swagger(), null, 2)}\n`;
  await app.close();
  db.close();
  return doc;
}
