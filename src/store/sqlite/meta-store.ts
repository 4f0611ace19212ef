import type { Db } from "./database.js";

/** Small key/value settings of the installation (e.g. the master-key check record). */
export function sqliteMetaStore(db: Db) {
  const select = db.prepare("SELECT value FROM meta WHERE key = ?");
  const insert = db.prepare("INSERT INTO meta (key, value) VALUES (@key, @value)");
  return {
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
