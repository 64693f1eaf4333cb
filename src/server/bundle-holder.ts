// The bundle the server is serving, and its reloads: on SIGHUP or a change to the file, a new state is
// built beside the current one and swapped in only if it loads completely; a bundle that does not
// compile leaves the last good one serving and the reason in the log. Reloads never overlap: a change
// during a reload schedules exactly one more.

import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { KzError } from "../errors.ts";
import { loadBundleState, type BundleDeps, type BundleState } from "./bundle-state.ts";
import type { Metrics } from "./metrics.ts";

export class BundleHolder {
  #state: BundleState;
  #running: Promise<void> | undefined;
  /** Why one more reload is due (the latest reason asked for while one was running), if any. */
  #again: string | undefined;
  #watcher: FSWatcher | undefined;

  private constructor(
    readonly path: string,
    state: BundleState,
    private readonly deps: BundleDeps,
    private readonly metrics: Metrics,
    private readonly log: (line: string) => void,
  ) {
    this.#state = state;
  }

  static async load(path: string, deps: BundleDeps, metrics: Metrics, log: (line: string) => void): Promise<BundleHolder> {
    return new BundleHolder(path, await loadBundleState(path, deps), deps, metrics, log);
  }

  get current(): BundleState {
    return this.#state;
  }

  /** Reloads now (or once more after the reload in progress); resolves when the state is settled. */
  reload(why: string): Promise<void> {
    if (this.#running) {
      this.#again = why;
      return this.#running;
    }
    this.#running = this.#reloadLoop(why).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #reloadLoop(first: string): Promise<void> {
    let why: string | undefined = first;
    for (; why !== undefined; why = this.#again) {
      this.#again = undefined;
      try {
        const next = await loadBundleState(this.path, this.deps);
        if (next.sha256 === this.#state.sha256) continue;
        this.#state = next;
        this.metrics.reload("ok");
        this.log(`reloaded ${next.set.bundle.file} (${why}): ${next.set.bundle.secrets.length} secrets, ${next.set.bundle.policies.length} policies, sha256 ${next.sha256.slice(0, 12)}`);
      } catch (error) {
        this.metrics.reload("failed");
        const reason = error instanceof KzError ? error.message : `${(error as Error).name}: ${String((error as Error).message).split("\n")[0]}`;
        this.log(`reload failed (${why}); still serving sha256 ${this.#state.sha256.slice(0, 12)}: ${reason}`);
      }
    }
  }

  /** Watches the bundle's directory (editors replace files by rename, which a file watch would miss). */
  watch(): void {
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), (_event, file) => {
        if (file === null || file === name) void this.reload("file changed");
      });
    } catch (error) {
      this.log(`cannot watch ${this.path} for changes (${(error as NodeJS.ErrnoException).code ?? "error"}); reload with SIGHUP`);
    }
  }

  close(): void {
    this.#watcher?.close();
  }
}
