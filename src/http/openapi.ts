import type { FastifyInstance } from "fastify";
import fastifySwagger from "@fastify/swagger";
import { createSerializerCompiler, jsonSchemaTransform } from "fastify-type-provider-zod";
import { $ZodType } from "zod/v4/core";

type Transform = typeof jsonSchemaTransform;

/**
 * Response schemas are zod for JSON bodies, or a plain OpenAPI `{ description, content }` for
 * PEM and YAML bodies: the zod transform handles the first kind, the second passes through.
 */
const transform: Transform = (input) => {
  const response = (input.schema as { response?: Record<string, unknown> } | undefined)?.response;
  if (!response) return jsonSchemaTransform(input);
  const zodOnly = Object.fromEntries(Object.entries(response).filter(([, s]) => s instanceof $ZodType));
  const out = jsonSchemaTransform({ ...input, schema: { ...input.schema, response: zodOnly } } as Parameters<Transform>[0]);
  const plain = Object.fromEntries(Object.entries(response).filter(([, s]) => !(s instanceof $ZodType)));
  const schema = out.schema as { response?: Record<string, unknown> };
  schema.response = { ...schema.response, ...plain };
  return out;
};

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
