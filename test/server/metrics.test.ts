// The Prometheus text of the server's metrics: decisions by action and effect, and a latency histogram
// whose buckets are cumulative (each bucket counts every observation at or below its bound).

import { expect, test } from "bun:test";
import { LATENCY_BUCKETS, Metrics } from "../../src/server/metrics.ts";

function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no sample ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

test("decisions are counted by action and effect", () => {
  const metrics = new Metrics();
  metrics.decision("resolve", "allow", 0.0001);
  metrics.decision("resolve", "allow", 0.0001);
  metrics.decision("resolve", "deny", 0.0001);
  metrics.decision("mint", "deny", 0.0001);
  const text = metrics.render({ version: "test", bundleSha256: "0".repeat(64) });
  expect(sample(text, 'kz_decisions_total{action="resolve",effect="allow"}')).toBe(2);
  expect(sample(text, 'kz_decisions_total{action="resolve",effect="deny"}')).toBe(1);
  expect(sample(text, 'kz_decisions_total{action="mint",effect="deny"}')).toBe(1);
});

test("latency buckets are cumulative; +Inf and _count hold every observation", () => {
  const metrics = new Metrics();
  const observations = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 5];
  for (const seconds of observations) metrics.decision("resolve", "allow", seconds);
  const text = metrics.render({ version: "test", bundleSha256: "0".repeat(64) });
  for (const le of LATENCY_BUCKETS) {
    const expected = observations.filter((s) => s <= le).length;
    expect({ le, count: sample(text, `kz_decision_duration_seconds_bucket{le="${le}"}`) }).toEqual({ le, count: expected });
  }
  expect(sample(text, 'kz_decision_duration_seconds_bucket{le="+Inf"}')).toBe(observations.length);
  expect(sample(text, "kz_decision_duration_seconds_count")).toBe(observations.length);
  expect(sample(text, "kz_decision_duration_seconds_sum")).toBeCloseTo(observations.reduce((a, b) => a + b, 0), 9);
});
