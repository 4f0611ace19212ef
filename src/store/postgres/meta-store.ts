import type { PgDb } from "./pool.js";

/** Tables whose rows make a database not new: what was sealed, issued or recorded under a master key. */
const DATA_TABLES = ["trust_domains", "roots", "clusters", "intermediates", "api_tokens", "crls", "audit_events"];

/** Small key/value settings of the installation (the master-key check record), in PostgreSQL. */
export function postgresMetaStore(db: PgDb) {
  return {
    /** "<n> <table>" for every table that holds rows of the installation's data; empty for a new database. */
    async dataRows(): Promise<string[]> {
      const counts = await Promise.all(DATA_TABLES.map(async (t) => [t, (await db.sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0]!.n] as const));
      return counts.filter(([, n]) => n > 0).map(([t, n]) => `${n} ${t}`);
    },
    async get(key: string): Promise<string | undefined> {
      return (await db.sql.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [key])).rows[0]?.value;
    },
    /** Inserts a value unless the key is taken (another replica starting at the same time); true when this one was stored. */
    async insertIfAbsent(key: string, value: string): Promise<boolean> {
      return ((await db.sql.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [key, value])).rowCount ?? 0) === 1;
    },
  };
}
