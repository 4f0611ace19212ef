import { afterAll, beforeAll, describe, it } from "vitest";
import { migratePostgres } from "../../../src/store/postgres/migrate.js";
import { openPg } from "../../../src/store/postgres/pool.js";
import { postgresStore } from "../../../src/store/postgres/postgres-store.js";
import { describeStorageContract } from "../contract.js";
import { skipPostgres, startPostgres, type PgServer } from "./server.js";

// One server and database for this file; every test gets a fresh schema, migrated.
let server: PgServer | undefined;
let url = "";
let schemas = 0;

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

  describeStorageContract("PostgreSQL", async () => {
    const schema = `contract_${++schemas}`;
    const admin = openPg(url, { max: 1 });
    await admin.sql.query(`CREATE SCHEMA ${schema}`);
    await admin.close();
    const db = openPg(url, { schema, max: 4 });
    await migratePostgres(db);
    return { store: postgresStore(db), close: () => db.close() };
  });
}
