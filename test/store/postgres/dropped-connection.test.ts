import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../../../src/errors.js";
import { openPg, type PgDb } from "../../../src/store/postgres/pool.js";
import { skipPostgres, startPostgres, type PgServer } from "./server.js";

/**
 * A connection the server drops while a transaction holds it between two statements (a shutdown,
 * a failover, an administrator's pg_terminate_backend): the transaction fails with
 * database_unavailable and the process lives on. Without a listener on the checked-out client,
 * its "error" event is uncaught: a replica died this way when PostgreSQL stopped under load.
 */
describe.skipIf(skipPostgres)("a dropped connection inside a transaction", () => {
  let server: PgServer;
  let db: PgDb;
  let admin: PgDb;
  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.createDatabase();
    db = openPg(url);
    admin = openPg(url);
  });
  afterAll(async () => {
    await db?.close();
    await admin?.close();
    await server?.stop();
  });

  it("fails the transaction with database_unavailable, and the pool serves the next one", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const failed = await db
        .tx(async (c) => {
          const { rows } = await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
          await admin.sql.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
          await new Promise((r) => setTimeout(r, 300)); // the termination arrives between two statements
          await c.query("SELECT 1");
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(failed).toBeInstanceOf(DomainError);
      expect((failed as DomainError).code).toBe("database_unavailable");
      expect(uncaught).toEqual([]);
      expect((await db.tx(async (c) => (await c.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one)) as number).toBe(1);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});
