import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";

/**
 * The hot path of the public bundle and CRL routes: a route-level onRequest hook that sends the
 * body the core computed less than a second ago for this `:name`, before validation and the
 * handler. A miss, or any query string, goes the normal way.
 */
export function servedFromCache(type: string, cached: (name: string) => string | Uint8Array | undefined) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const body = request.url.includes("?") ? undefined : cached((request.params as { name: string }).name);
    if (body === undefined) return done();
    reply.type(type).send(typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  };
}
