import { describe, expect, test } from 'vitest';
import { Outbox } from '../../core/outbox';

describe('Outbox', () => {
  test('first in, first out; undefined when empty; size counts what is queued', () => {
    const o = new Outbox<number>();
    expect(o.poll()).toBeUndefined();
    o.push(1);
    o.push(2);
    expect(o.size).toBe(2);
    expect(o.poll()).toBe(1);
    o.push(3);
    expect([o.poll(), o.poll(), o.poll()]).toEqual([2, 3, undefined]);
    expect(o.size).toBe(0);
    o.push(4); // usable again after being drained
    expect(o.size).toBe(1);
    expect(o.poll()).toBe(4);
  });

  test('many pushes and polls in turns keep the order', () => {
    const o = new Outbox<number>();
    const got: number[] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 7; i++) o.push(n++);
      for (let x = o.poll(); x !== undefined; x = o.poll()) got.push(x);
    }
    expect(got).toEqual([...Array(n).keys()]);
  });
});
