import { z } from "zod";
import { ClusterPattern, Timestamp, TrustDomainName } from "./common.js";

const Role = z.enum(["admin", "provisioner", "auditor"]).describe("admin: everything; provisioner: clusters and intermediates; auditor: read-only");

export const CreateTokenBody = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[\x20-\x7e]+$/, "must be printable ASCII").describe("what the token is for"),
  role: Role,
  clusters: z.array(ClusterPattern).max(32).optional().describe("provisioner only: limit to clusters matching these patterns"),
  trustDomains: z
    .array(z.union([z.literal("*"), TrustDomainName]))
    .max(32)
    .optional()
    .describe("provisioner only: trust domains it may act in; ['*'] for all. Omitted or empty: none"),
  expiresAt: Timestamp.optional().describe("when the token stops working (default: never)"),
}).meta({
  id: "CreateTokenRequest",
  examples: [{ name: "ci-pipeline", role: "provisioner", clusters: ["east", "west-*"], trustDomains: ["mesh.example.com"], expiresAt: "2027-06-30T00:00:00Z" }],
});

export const Token = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  clusters: z.array(z.string()).describe("cluster patterns; empty: all clusters"),
  trustDomains: z.array(z.string()).describe("provisioner: trust domains it may act in ('*': all; empty: none); admin and auditor: []"),
  createdAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
}).meta({ id: "Token" });

export const CreatedToken = Token.extend({ token: z.string().describe("the bearer secret; shown only in this response") }).meta({ id: "CreatedToken" });

export const TokenParams = z.strictObject({ id: z.string().min(1).max(64) });
