import type { Registry } from "prom-client";

/**
 * The HTTP request-duration histogram, kept outside prom-client's Histogram: that one validates
 * and hashes the label object on every observation, which cost the hot public routes (bundle,
 * CRL) a tenth of their throughput. Here a request adds to a series found by one string key;
 * prom-client formats the series at scrape time through the metric interface (`get`).
 */
export function requestHistogram(registry: Registry, opts: { name: string; help: string; buckets: number[] }) {
  type Series = { labels: Record<string, string>; counts: Float64Array; sum: number; count: number };
  const series = new Map<string, Series>();
  const { name, help, buckets } = opts;

  registry.registerMetric({
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    async get() {
      const values = [];
      for (const s of series.values()) {
        let acc = 0;
        for (let i = 0; i < buckets.length; i++) {
          acc += s.counts[i]!;
          values.push({ labels: { le: buckets[i]!, ...s.labels }, value: acc, metricName: `${name}_bucket` });
        }
        values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${name}_bucket` });
        values.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
      }
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
    reset: () => series.clear(),
  } as unknown as Parameters<Registry["registerMetric"]>[0]);

  return {
    /** Adds one observation to the series `key` (labels made only the first time the key is seen). */
    observe(key: string, labels: () => Record<string, string>, seconds: number): void {
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels: labels(), counts: new Float64Array(buckets.length), sum: 0, count: 0 }));
      const i = buckets.findIndex((b) => seconds <= b);
      if (i >= 0) s.counts[i]!++;
      s.sum += seconds;
      s.count++;
    },
  };
}
