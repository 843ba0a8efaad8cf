/**
 * A line's stop switch: aborting it ends the request in flight and any wait before a retry. Dispatch
 * holds one per line in flight, so it is a plain object rather than an AbortController (an
 * EventTarget, whose listeners every request would add and remove); a real AbortSignal is made only
 * for the rare line that waits to retry.
 */
export class LineAbort {
  private stopped = false;
  private hook: (() => void) | null = null;
  private controller: AbortController | null = null;

  get aborted(): boolean {
    return this.stopped;
  }

  abort(): void {
    if (this.stopped) return;
    this.stopped = true;
    const hook = this.hook;
    this.hook = null;
    hook?.();
    this.controller?.abort();
  }

  /**
   * `hook` runs once if the line is aborted while it is set (at once when it already is); null
   * unsets it. One at a time: a line has at most one request in flight.
   */
  watch(hook: (() => void) | null): void {
    if (hook && this.stopped) {
      hook();
      return;
    }
    this.hook = hook;
  }

  /** An AbortSignal that follows this switch, for APIs that take one. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort();
    }
    return this.controller.signal;
  }
}
