import { describe, expect, it } from "vitest";
import { isUnavailable } from "../../../src/store/postgres/pool.js";

/** Which PostgreSQL client errors mean "the database is away" (503 database_unavailable) and which are the statement's own. */
describe("isUnavailable", () => {
  it("is true for lost or refused connections, shutdowns and the pool's timeouts", () => {
    for (const err of [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }),
      Object.assign(new Error("the database system is starting up"), { code: "57P03" }),
      Object.assign(new Error("connection failure"), { code: "08006" }),
      Object.assign(new Error("sorry, too many clients already"), { code: "53300" }),
      new Error("Connection terminated unexpectedly"),
      new Error("timeout exceeded when trying to connect"),
      new Error("Query read timeout"),
    ]) {
      expect(isUnavailable(err), err.message).toBe(true);
    }
  });

  it("is false for errors of the statement itself", () => {
    for (const err of [
      Object.assign(new Error("duplicate key value violates unique constraint"), { code: "23505" }),
      Object.assign(new Error("syntax error"), { code: "42601" }),
      Object.assign(new Error("deadlock detected"), { code: "40P01" }),
      new Error("something else"),
      undefined,
    ]) {
      expect(isUnavailable(err)).toBe(false);
    }
  });
});
