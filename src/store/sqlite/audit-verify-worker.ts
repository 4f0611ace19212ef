import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import { verifyStretch, type Stretch } from "./audit-verify.js";

// Worker thread of verifyAuditChain: verifies one stretch on its own read-only connection.
const { file, stretch } = workerData as { file: string; stretch: Stretch };
const db = new Database(file, { readonly: true, fileMustExist: true });
try {
  parentPort!.postMessage(verifyStretch(db, stretch));
} finally {
  db.close();
}
