import { receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { auditAppender } from "./audit-store.js";
import { openDatabase } from "./database.js";
import { toWire, type WriterReply, type WriterRequest } from "./issuance-writer.js";
import { issueTransaction, type PendingIssue } from "./issue-transaction.js";

// The issuance writer thread (issuance-writer.ts): its own connection, WAL and synchronous=FULL
// as every connection is opened. Each turn commits, in one transaction, every request that
// arrived meanwhile (at most MAX_ITEMS issuances), and answers each after the COMMIT.
const MAX_ITEMS = 512;
const { dbFile, port } = workerData as { dbFile: string; port: MessagePort };
const db = openDatabase(dbFile);
const { commit } = issueTransaction(db, auditAppender(db));

port.on("message", (first: WriterRequest) => {
  const requests = [first];
  let count = first.items.length;
  for (let next; count < MAX_ITEMS && (next = receiveMessageOnPort(port)); ) {
    requests.push(next.message as WriterRequest);
    count += (next.message as WriterRequest).items.length;
  }
  const items: PendingIssue[] = requests.flatMap((r) => r.items);
  let replies: WriterReply[];
  try {
    const outcomes = commit(items).map((o) => (o.ok ? o : { ok: false as const, error: toWire(o.error) }));
    let at = 0;
    replies = requests.map((r) => ({ id: r.id, outcomes: outcomes.slice(at, (at += r.items.length)) }));
  } catch (err) {
    replies = requests.map((r) => ({ id: r.id, failed: toWire(err) }));
  }
  for (const reply of replies) port.postMessage(reply);
});
