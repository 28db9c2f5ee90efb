/**
 * The one result of an event-driven session loop: the first `finish` settles `promise` (an Error rejects it) and
 * sets `done`; later calls do nothing. A loop may also set `done` itself when it stops without a result to give.
 */
export class Outcome<T> {
  readonly promise: Promise<T>;
  done = false;
  private resolve!: (v: T) => void;
  private reject!: (e: Error) => void;

  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }

  finish(o: T | Error): void {
    if (this.done) return;
    this.done = true;
    if (o instanceof Error) this.reject(o);
    else this.resolve(o);
  }
}
