import { afterAll, beforeAll, describe, it } from "vitest";
import type { Store } from "../../../src/core/ports.js";
import { migratePostgres } from "../../../src/store/postgres/migrate.js";
import { openPg, type PgDb } from "../../../src/store/postgres/pool.js";
import { postgresStore } from "../../../src/store/postgres/postgres-store.js";
import { describeStorageContract } from "../contract.js";
import { skipPostgres, startPostgres, type PgServer } from "./server.js";

// One server and database for this file; every store gets a fresh schema, migrated.
let server: PgServer | undefined;
let url = "";
let schemas = 0;

/** The methods the store has (its optional ones or not), from an instance that never connects. */
const SHAPE = postgresStore(openPg("postgres://127.0.0.1:1/never-connected"));
/** Methods that return an async iterable rather than a promise. */
const ITERABLES = new Set(["iterateAudit", "readAuditChain"]);

/**
 * A fresh store whose schema is created and migrated on first use. Each part of the contract
 * opens a store before every test (seven per test) and a test uses one of them: migrating all
 * seven would be most of the suite's time.
 */
function lazyStore(): { store: Store; close(): Promise<void> } {
  let opened: Promise<{ db: PgDb; store: Store }> | undefined;
  const open = () =>
    (opened ??= (async () => {
      const schema = `contract_${++schemas}`;
      const admin = openPg(url, { max: 1 });
      await admin.sql.query(`CREATE SCHEMA ${schema}`);
      await admin.close();
      const db = openPg(url, { schema, max: 4 });
      await migratePostgres(db);
      return { db, store: postgresStore(db) };
    })());
  const store = new Proxy({} as Store, {
    get(_, key: string) {
      if (typeof (SHAPE as unknown as Record<string, unknown>)[key] !== "function") return undefined;
      if (ITERABLES.has(key)) {
        return async function* (...args: unknown[]) {
          const { store: s } = await open();
          yield* (s as unknown as Record<string, (...a: unknown[]) => AsyncIterable<unknown>>)[key]!(...args);
        };
      }
      return async (...args: unknown[]) => {
        const { store: s } = await open();
        return (s as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[key]!(...args);
      };
    },
  });
  return {
    store,
    async close() {
      if (opened) await (await opened).db.close();
    },
  };
}

if (skipPostgres) {
  describe.skip("storage contract: PostgreSQL (not installed)", () => it("needs PostgreSQL", () => {}));
} else {
  beforeAll(async () => {
    server = await startPostgres();
    url = await server.createDatabase();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeStorageContract("PostgreSQL", async () => lazyStore());
}
