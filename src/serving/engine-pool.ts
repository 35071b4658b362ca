/**
 * The free engines of a host and the calls waiting for one. A call may prefer an engine (the one
 * that kept its prompts' prefills, which only there save a second prefill): it gets that engine
 * when it is free, and an engine coming back goes first to the oldest call that prefers it, then
 * to the oldest call without a preference, then to the oldest call of all (a call prefills again
 * rather than leave an engine idle). No call waits for ever: the calls that can go ahead of an
 * older one are those preferring the engine coming back, generation batches, at most one per
 * engine in flight (ModelHost's micro-batcher).
 */
export class EnginePool<E> {
  private readonly idle: E[];
  private readonly waiters: Array<{ prefer?: E; resolve: (e: E) => void }> = [];

  constructor(engines: readonly E[]) {
    this.idle = [...engines];
  }

  /** A free engine: `prefer` when it is free, else any free one, else the next one given back. */
  take(prefer?: E): Promise<E> {
    const at = prefer !== undefined ? this.idle.indexOf(prefer) : -1;
    const e = at >= 0 ? this.idle.splice(at, 1)[0] : this.idle.shift();
    if (e !== undefined) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push({ prefer, resolve }));
  }

  /** An engine back from a call: to a waiting call (see the class comment), else free. */
  giveBack(e: E): void {
    if (this.waiters.length === 0) {
      this.idle.push(e);
      return;
    }
    let at = this.waiters.findIndex((w) => w.prefer === e);
    if (at < 0) at = this.waiters.findIndex((w) => w.prefer === undefined);
    if (at < 0) at = 0;
    this.waiters.splice(at, 1)[0].resolve(e);
  }
}
