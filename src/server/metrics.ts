// The server's Prometheus metrics: decisions by action and effect, a decision-latency histogram, API
// errors by code, and bundle reloads. Plain counters in memory, rendered as Prometheus text exposition
// (version 0.0.4) for GET /metrics. Nothing here is ever labelled with a value, a token or a claim.

/** Upper bounds of the latency histogram, in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

class Histogram {
  /** Observations per bucket (not cumulative: each lands in the first bucket that holds it). */
  readonly #inBucket = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.#inBucket[i]!++;
        return;
      }
    }
  }

  /** Cumulative counts per upper bound, as Prometheus buckets are. */
  get counts(): number[] {
    let running = 0;
    return this.#inBucket.map((n) => (running += n));
  }
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
  return body ? `{${body}}` : "";
}

export class Metrics {
  /** action → effect → count. */
  readonly #decisions = new Map<string, Map<string, number>>();
  readonly #errors = new Map<string, number>();
  readonly #reloads = new Map<string, number>();
  readonly #latency = new Histogram();
  readonly #started = Date.now() / 1000;

  decision(action: string, effect: string, seconds: number): void {
    let byEffect = this.#decisions.get(action);
    if (byEffect === undefined) this.#decisions.set(action, (byEffect = new Map()));
    byEffect.set(effect, (byEffect.get(effect) ?? 0) + 1);
    this.#latency.observe(seconds);
  }

  error(code: string): void {
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  reload(result: "ok" | "failed"): void {
    this.#reloads.set(result, (this.#reloads.get(result) ?? 0) + 1);
  }

  render(info: { version: string; bundleSha256: string }): string {
    const out: string[] = [];
    out.push("# HELP kz_decisions_total Policy decisions, by action and effect.", "# TYPE kz_decisions_total counter");
    for (const [action, byEffect] of this.#decisions) {
      for (const [effect, n] of byEffect) out.push(`kz_decisions_total${labels({ action, effect })} ${n}`);
    }
    out.push(
      "# HELP kz_decision_duration_seconds Time from a verified request to its decision, audit record included.",
      "# TYPE kz_decision_duration_seconds histogram",
    );
    const cumulative = this.#latency.counts;
    LATENCY_BUCKETS.forEach((le, i) => out.push(`kz_decision_duration_seconds_bucket${labels({ le: String(le) })} ${cumulative[i]}`));
    out.push(`kz_decision_duration_seconds_bucket${labels({ le: "+Inf" })} ${this.#latency.count}`);
    out.push(`kz_decision_duration_seconds_sum ${this.#latency.sum}`, `kz_decision_duration_seconds_count ${this.#latency.count}`);
    out.push("# HELP kz_errors_total API errors, by error code.", "# TYPE kz_errors_total counter");
    for (const [code, n] of this.#errors) out.push(`kz_errors_total${labels({ code })} ${n}`);
    out.push("# HELP kz_bundle_reloads_total Bundle reloads, by result.", "# TYPE kz_bundle_reloads_total counter");
    for (const [result, n] of this.#reloads) out.push(`kz_bundle_reloads_total${labels({ result })} ${n}`);
    out.push(
      "# HELP kz_build_info The running kz and its bundle.",
      "# TYPE kz_build_info gauge",
      `kz_build_info${labels({ version: info.version, bundle_sha256: info.bundleSha256 })} 1`,
      "# HELP kz_start_time_seconds When the server started, in seconds since the epoch.",
      "# TYPE kz_start_time_seconds gauge",
      `kz_start_time_seconds ${this.#started}`,
    );
    return `${out.join("\n")}\n`;
  }
}
