import { readFileSync } from "node:fs";
import Fastify from "fastify";

// The baseline of the bundle/CRL figures: a bare fastify route returning the same bytes.
const [bundleFile, crlFile] = process.argv.slice(2) as [string, string];
const bundle = readFileSync(bundleFile);
const crl = readFileSync(crlFile);
const app = Fastify({ logger: false });
app.get("/bundle", (_req, reply) => reply.type("application/x-pem-file").send(bundle));
app.get("/crl", (_req, reply) => reply.type("application/pkix-crl").send(crl));
const address = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`${address}\n`);
