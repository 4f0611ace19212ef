import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { requestHistogram } from "../../src/http/request-histogram.js";

describe("request histogram", () => {
  it("exposes the same text as prom-client's Histogram for the same observations", async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    const h = requestHistogram(ours, { name: "d_seconds", help: "durations", buckets });
    const p = new Histogram({ name: "d_seconds", help: "durations", labelNames: ["method", "route", "status_code"], buckets, registers: [theirs] });
    const samples: [string, string, number, number][] = [
      ["GET", "/a", 200, 0.0005], ["GET", "/a", 200, 0.001], ["GET", "/a", 200, 0.05], ["GET", "/a", 404, 3],
      ["POST", '/b/"quoted"', 201, 0.2], ["GET", "/a", 200, 2], ["GET", "/a", 200, 0.01],
    ];
    for (const [method, route, status, s] of samples) {
      h.observe(`${method} ${status} ${route}`, () => ({ method, route, status_code: String(status) }), s);
      p.observe({ method, route, status_code: String(status) }, s);
    }
    const lines = async (r: Registry) => (await r.metrics()).trim().split("\n").sort();
    expect(await lines(ours)).toEqual(await lines(theirs));
  });
});
