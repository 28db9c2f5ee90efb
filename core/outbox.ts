/**
 * A first-in first-out queue of what a state machine wants sent (or reported): it pushes while handling an
 * event, the I/O shell drains it with poll…() until undefined. Shared by core/mt-client.ts and the test
 * coordinator so both queue transmits one way. A polled slot is released at once (no buffer kept alive), and
 * the array is reset when drained, so a long run does not grow it.
 */
export class Outbox<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest queued item, removed; undefined when empty. */
  poll(): T | undefined {
    if (this.head >= this.items.length) {
      if (this.items.length) {
        this.items = [];
        this.head = 0;
      }
      return undefined;
    }
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    return item;
  }

  get size(): number {
    return this.items.length - this.head;
  }
}
