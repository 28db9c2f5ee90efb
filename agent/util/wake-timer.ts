/**
 * The one timer of a session loop: a sans-I/O machine says when it next wants to wake (`pollTimeout`), and the loop
 * asks for that here after every input. Re-armed only when the wanted time comes earlier than the armed one; once it
 * fires it is disarmed before `onWake` runs (which then asks again).
 */
export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;

  constructor(
    private readonly onWake: () => void,
    private readonly now: () => number,
  ) {}

  /** Wake no later than `next` (ms on the `now` clock; Infinity: nothing wanted). */
  wakeBy(next: number): void {
    if (next >= this.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = next;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = Infinity;
      this.onWake();
    }, Math.max(0, next - this.now()));
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }
}
