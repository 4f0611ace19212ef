import type { FastifyInstance } from "fastify";
import fastifySwagger from "@fastify/swagger";
import { createSerializerCompiler, jsonSchemaTransform, validatorCompiler as zodValidator } from "fastify-type-provider-zod";
import { $ZodType } from "zod/v4/core";

type Transform = typeof jsonSchemaTransform;

/**
 * Schemas are zod for JSON, or plain OpenAPI objects for PEM, DER and YAML bodies (a response's
 * `{ description, content }`, a request body's `{ content }`): the zod transform handles the
 * first kind; the second passes through untouched.
 */
const transform: Transform = (input) => {
  const schema = (input.schema ?? {}) as { response?: Record<string, unknown>; body?: unknown };
  const response = schema.response ?? {};
  const zodResponses = Object.fromEntries(Object.entries(response).filter(([, s]) => s instanceof $ZodType));
  const plainResponses = Object.fromEntries(Object.entries(response).filter(([, s]) => !(s instanceof $ZodType)));
  const plainBody = schema.body !== undefined && !(schema.body instanceof $ZodType) ? schema.body : undefined;
  const zodOnly = { ...schema, response: schema.response ? zodResponses : undefined, body: plainBody ? undefined : schema.body };
  const out = jsonSchemaTransform({ ...input, schema: zodOnly } as Parameters<Transform>[0]);
  const result = out.schema as { response?: Record<string, unknown>; body?: unknown };
  if (schema.response) result.response = { ...result.response, ...plainResponses };
  if (plainBody) result.body = plainBody;
  return out;
};

/** Validates with zod; a non-zod schema (a raw PEM/DER body described for OpenAPI only) accepts its input as is. */
export const validatorCompiler: typeof zodValidator = (routeSchema) =>
  routeSchema.schema instanceof $ZodType ? zodValidator(routeSchema) : (data: unknown) => ({ value: data });

const zodSerializer = createSerializerCompiler({});

/** Serializes JSON bodies through their zod schema; other bodies (PEM, YAML) are sent as they are. */
export const serializerCompiler: typeof zodSerializer = (routeSchema) =>
  routeSchema.schema instanceof $ZodType ? zodSerializer(routeSchema) : (data: unknown) => (typeof data === "string" ? data : JSON.stringify(data));

/** Registers the OpenAPI 3.1 document, generated from the route schemas. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "meshroot",
        version,
        description: "Certificate authority for multi-cluster Istio meshes: one root per trust domain, one intermediate per cluster, the istiod cacerts Secret.",
        license: { name: "Apache-2.0", identifier: "Apache-2.0" },
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform,
  });
}
