import { z } from "zod";
import { KEY_ALGORITHMS } from "../../x509/key-algorithms.js";
import { CLUSTER_NAME, CLUSTER_PATTERN, TRUST_DOMAIN_NAME } from "../../core/names.js";

export const Problem = z
  .object({
    type: z.string().describe("URI naming the problem type: urn:meshroot:problem:<code>"),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().describe("stable machine-readable error code"),
    requestId: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe("per-field validation failures"),
  })
  .describe("RFC 9457 problem details")
  .meta({ id: "Problem" });

/** Error responses every route can return. */
export const problemResponses = { "4xx": Problem, "5xx": Problem } as const;

export const ClusterName = z
  .string()
  .regex(CLUSTER_NAME, "must be a DNS label: lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit")
  .describe("cluster name (RFC 1123 DNS label)");

export const TrustDomainName = z
  .string()
  .max(253)
  .regex(TRUST_DOMAIN_NAME, "must be a lowercase DNS name such as cluster.local or mesh.example.com")
  .describe("SPIFFE trust domain (lowercase DNS name)");

export const ClusterPattern = z
  .string()
  .regex(CLUSTER_PATTERN, "must be a cluster name in which '*' matches any characters, e.g. prod-*")
  .describe("cluster name pattern; '*' matches any characters");

export const KeyAlgorithmSchema = z.enum(KEY_ALGORITHMS).describe("key algorithm");

export const Timestamp = z.iso.datetime().describe("RFC 3339 timestamp (UTC)");

/**
 * A time in a query: an RFC 3339 date-time (Z or an offset) or a date (`2027-03-01`, midnight
 * UTC), as people type them. Parsed into an ISO string.
 */
export const TimeQuery = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: "must be a date (2027-03-01) or an RFC 3339 date-time (2027-03-01T00:00:00Z)" })
  .transform((s) => (s.length === 10 ? `${s}T00:00:00.000Z` : s))
  .describe("a date (2027-03-01, midnight UTC) or an RFC 3339 date-time");

export const PemText = (what: string) => z.string().min(1).max(32_768).describe(what);

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100).describe("page size (1-500, default 100)"),
  cursor: z.string().max(512).optional().describe("opaque cursor from the previous page's nextCursor"),
});

export function paged<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe("pass as ?cursor= to get the next page; null on the last page"),
  });
}

export const NameParam = <T extends z.ZodType>(schema: T) => z.strictObject({ name: schema });
