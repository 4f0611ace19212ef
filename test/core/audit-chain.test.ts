import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalEvent, canonicalJson, chainLinks, eventHash, eventText, GENESIS_HASH, hashedFields, parseStoredEvent, storedFields, verifyChain, type AuditEvent } from "../../src/core/audit.js";

const nullable = (a: fc.Arbitrary<string>) => fc.option(a, { nil: null });
const event = fc.record({
  seq: fc.integer({ min: 1, max: 1e9 }),
  at: fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }),
  actor: fc.record({ type: fc.constantFrom("token" as const, "system" as const, "anonymous" as const), id: fc.string(), name: fc.string({ unit: "binary" }) }),
  action: fc.string(),
  target: fc.record({ type: fc.string(), id: fc.string() }),
  cluster: nullable(fc.string()),
  trustDomain: nullable(fc.string()),
  outcome: fc.constantFrom("success" as const, "denied" as const, "failure" as const),
  requestId: nullable(fc.string()),
  sourceIp: nullable(fc.string()),
  details: fc.dictionary(fc.string({ unit: "binary" }), fc.jsonValue({ maxDepth: 3 })).map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>),
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
});
// Details that imitate the chain's own keys, at the top of details and nested.
const adversarialDetails = fc.record({
  prevHash: fc.string(),
  seq: fc.integer(),
  nested: fc.record({ prevHash: fc.constant('","prevHash":"' + "f".repeat(64)), seq: fc.constant(',"seq":7,') }),
});

describe("audit hashing", () => {
  it("the direct canonical form equals canonical JSON of the hashed fields, for any event", () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(canonicalEvent(storedFields(e))).toBe(canonicalJson(hashedFields(e)));
      }),
      { numRuns: 500 },
    );
  });

  it("verifies a chain and finds the first break", () => {
    const chain: AuditEvent[] = [];
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= 5; seq++) {
      const partial = { seq, at: new Date(1e12 + seq), actor: { type: "system" as const, id: "system", name: "t" }, action: "x", target: { type: "t", id: String(seq) }, cluster: null, trustDomain: null, outcome: "success" as const, requestId: null, sourceIp: null, details: { n: seq }, prevHash: prev };
      const e = { ...partial, hash: eventHash(partial) };
      chain.push(e);
      prev = e.hash;
    }
    const stored = chain.map((e) => ({ seq: e.seq, event: eventText(e), hash: e.hash }));
    expect(verifyChain(stored)).toMatchObject({ ok: true, events: 5, lastSeq: 5, lastHash: prev });
    const edited = verifyChain(stored.map((e, i) => (i === 2 ? { ...e, event: e.event.replace('{"n":3}', '{"n":99}') } : e)));
    expect(edited.firstBroken).toMatchObject({ seq: 3, reason: expect.stringContaining("edited") });
    expect(verifyChain(stored.filter((_, i) => i !== 1)).firstBroken).toMatchObject({ seq: 3, reason: expect.stringContaining("missing") });
    // Renumbered: delete the 2nd event and shift the rest down.
    const renumbered = stored.filter((_, i) => i !== 1).map((e, i) => ({ ...e, seq: i + 1 }));
    expect(verifyChain(renumbered).firstBroken).toMatchObject({ seq: 2, reason: expect.stringContaining("prevHash") });
    // The first event moved to position 2 with a forged prevHash chain start: its recorded seq gives it away.
    const moved = [stored[0]!, { ...stored[0]!, seq: 2 }];
    expect(verifyChain(moved).firstBroken).toMatchObject({ seq: 2 });
  });

  it("reads seq and prevHash from the stored text, whatever the details hold", () => {
    fc.assert(
      fc.property(event, fc.option(adversarialDetails, { nil: undefined }), (e, adv) => {
        const ev = adv ? { ...e, details: { ...e.details, ...adv } } : e;
        const text = eventText(ev);
        expect(chainLinks(text)).toEqual({ seq: ev.seq, prevHash: ev.prevHash });
        expect(parseStoredEvent({ seq: ev.seq, event: text, hash: "h" })).toEqual({ ...ev, hash: "h" });
      }),
      { numRuns: 500 },
    );
  });
});
