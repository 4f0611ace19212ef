import type { Db } from "./database.js";

/** Tables whose rows make a database not new: what was sealed, issued or recorded under a master key. */
const DATA_TABLES = ["trust_domains", "roots", "clusters", "intermediates", "api_tokens", "crls", "audit_events"];

/** Small key/value settings of the installation (e.g. the master-key check record). */
export function sqliteMetaStore(db: Db) {
  const select = db.prepare("SELECT value FROM meta WHERE key = ?");
  const insert = db.prepare("INSERT INTO meta (key, value) VALUES (@key, @value)");
  const data = DATA_TABLES.map((t) => [t, db.prepare(`SELECT count(*) FROM ${t}`).pluck()] as const);
  return {
    /** "<n> <table>" for every table that holds rows of the installation's data; empty for a new database. */
    dataRows(): string[] {
      return data.map(([t, q]) => [t, q.get() as number] as const).filter(([, n]) => n > 0).map(([t, n]) => `${n} ${t}`);
    },
    get(key: string): string | undefined {
      return (select.get(key) as { value: string } | undefined)?.value;
    },
    /** Inserts a value once; a second insert of the same key throws. */
    insert(key: string, value: string): void {
      insert.run({ key, value });
    },
  };
}

export type MetaStore = ReturnType<typeof sqliteMetaStore>;
