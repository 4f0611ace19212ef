import type { FastifyInstance } from "fastify";
import fastifySwagger from "@fastify/swagger";
import type { FastifySwaggerUiOptions } from "@fastify/swagger-ui";
import { createSerializerCompiler, jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler as zodValidator } from "fastify-type-provider-zod";
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
  // Public routes (health, metrics unless a token is required, bundle, CRL, root certificate)
  // need no token: they override the document's bearer requirement.
  if ((input.route?.config as { auth?: string } | undefined)?.auth === "public") (result as { security?: unknown[] }).security = [];
  return out;
};

type OpenApiObject = ReturnType<typeof jsonSchemaTransformObject>;
const SCHEMA_REF = "#/components/schemas/";

/**
 * Adds the named zod schemas (`.meta({ id })`) as components, keeps only those the document
 * references, and names a schema used only as input by its id (zod's transform calls the input
 * form `<id>Input`, which is only needed when the output form is used as well).
 */
const transformObject: typeof jsonSchemaTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input) as OpenApiObject & { components: { schemas: Record<string, unknown> } };
  const all = doc.components.schemas;
  const used = new Set<string>();
  const visit = (value: unknown) => {
    const text = JSON.stringify(value);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      if (used.has(name!) || !(name! in all)) continue;
      used.add(name!);
      visit(all[name!]);
    }
  };
  visit({ ...doc, components: { ...doc.components, schemas: {} } });
  const rename = new Map<string, string>();
  for (const name of used) if (name.endsWith("Input") && !used.has(name.slice(0, -"Input".length))) rename.set(name, name.slice(0, -"Input".length));
  // Components are plain schemas of the document: zod's per-schema $schema and $id go.
  const component = (name: string) => {
    const { $schema: _s, $id: _i, ...rest } = all[name] as Record<string, unknown>;
    return rest;
  };
  const schemas = Object.fromEntries([...used].sort().map((name) => [rename.get(name) ?? name, component(name)]));
  const text = JSON.stringify({ ...doc, components: { ...doc.components, schemas } }).replace(/"#\/components\/schemas\/([^"]+)"/g, (ref, name: string) =>
    rename.has(name) ? JSON.stringify(SCHEMA_REF + rename.get(name)) : ref,
  );
  return JSON.parse(text) as OpenApiObject;
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
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "an API token (meshroot token create, POST /v1/tokens)" } } },
      security: [{ bearer: [] }],
    },
    transform,
    transformObject,
  });
}

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="14" r="8" fill="#0f766e"/><circle cx="14" cy="48" r="8" fill="#0f766e"/><circle cx="50" cy="48" r="8" fill="#0f766e"/><path d="M32 22v10M32 32 18 42M32 32l14 10" stroke="#134e4a" stroke-width="4" fill="none"/></svg>`;

const CSS = `
.swagger-ui .topbar { background: #134e4a; }
.swagger-ui .topbar .download-url-wrapper { display: none; }
.swagger-ui .topbar-wrapper img { height: 40px; }
.swagger-ui .opblock-tag { font-family: system-ui, sans-serif; }
`;

/**
 * The interactive docs at /docs (@fastify/swagger-ui), as meshroot's: its title, logo, favicon
 * and colours, every asset served by meshroot itself (no external fetch: the page works
 * air-gapped; swagger-ui's online validator stays off).
 */
export const docsPageOptions: FastifySwaggerUiOptions = {
  routePrefix: "/docs",
  theme: {
    title: "meshroot API",
    css: [{ filename: "meshroot.css", content: CSS }],
    favicon: [{ filename: "favicon.svg", rel: "icon", sizes: "any", type: "image/svg+xml", content: Buffer.from(LOGO) }],
  },
  logo: { type: "image/svg+xml", content: Buffer.from(LOGO), href: "/docs", target: "_self" },
  uiConfig: { docExpansion: "list", deepLinking: true },
};
