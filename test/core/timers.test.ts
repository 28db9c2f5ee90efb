import { describe, expect, test } from 'vitest';
import { Timers } from '../../core/timers';

const NAMES = ['a', 'b', 'c'] as const;
type N = (typeof NAMES)[number];

describe('Timers: a table of named deadlines on a fake clock', () => {
  test('nothing armed: no deadline, nothing expires', () => {
    const t = new Timers<N>(NAMES);
    expect(t.next()).toBeUndefined();
    expect(t.popExpired(1e12)).toBeUndefined();
    expect([...t.sweep(1e12)]).toEqual([]);
    expect(t.armed('a')).toBe(false);
  });

  test('next() is the earliest armed deadline; arm replaces, disarm removes', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 300);
    t.arm('b', 200);
    t.arm('c', 250, 7);
    expect(t.next()).toBe(200);
    t.arm('b', 400); // re-arming replaces the old deadline
    expect(t.next()).toBe(250);
    expect(t.at('b')).toBe(400);
    t.disarm('c', 7);
    expect(t.next()).toBe(300);
    expect(t.at('c', 7)).toBeUndefined();
    t.disarm('a');
    t.disarm('b');
    expect(t.next()).toBeUndefined();
  });

  test('a timer expires at its deadline, not before', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 100);
    expect(t.popExpired(99)).toBeUndefined();
    expect(t.popExpired(100)).toEqual({ name: 'a', id: undefined });
    expect(t.armed('a')).toBe(false); // popped timers are disarmed
    expect(t.popExpired(100)).toBeUndefined();
  });

  test('popExpired: earliest first; ties in name order, then in first-arm order of ids', () => {
    const t = new Timers<N>(NAMES);
    t.arm('c', 50);
    t.arm('b', 50, 2);
    t.arm('b', 50, 1);
    t.arm('a', 60);
    t.arm('b', 50); // the name's own timer comes before its ids
    t.arm('b', 50, 2); // re-arming an id keeps its place
    const order: string[] = [];
    for (let f = t.popExpired(100); f; f = t.popExpired(100)) order.push(`${f.name}${f.id ?? ''}`);
    expect(order).toEqual(['b', 'b2', 'b1', 'c', 'a']);
  });

  test('popExpired: a disarmed id keeps its place in the tie order; a dropped one loses it', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 10, 1);
    t.arm('a', 10, 2);
    t.disarm('a', 1);
    t.arm('a', 10, 1);
    expect(t.popExpired(10)).toEqual({ name: 'a', id: 1 });
    t.arm('a', 20, 1);
    t.arm('a', 20, 2);
    t.drop('a', 1);
    t.arm('a', 20, 1); // armed again after being forgotten: last
    expect(t.popExpired(20)).toEqual({ name: 'a', id: 2 });
    expect(t.popExpired(20)).toEqual({ name: 'a', id: 1 });
  });

  test('a handler that re-arms at or before now runs again through popExpired, once per sweep', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 0);
    let runs = 0;
    for (let f = t.popExpired(30); f; f = t.popExpired(30)) {
      runs++;
      t.arm('a', runs * 10); // 10, 20, 30, 40: the last is in the future
    }
    expect(runs).toBe(4);
    const t2 = new Timers<N>(NAMES);
    t2.arm('a', 0);
    const seen: string[] = [];
    for (const f of t2.sweep(30)) {
      seen.push(f.name);
      t2.arm('a', 5);
    }
    expect(seen).toEqual(['a']);
    expect(t2.at('a')).toBe(5);
  });

  test('sweep goes in name order and sees what earlier handlers armed or disarmed', () => {
    const t = new Timers<N>(NAMES);
    t.arm('c', 5);
    t.arm('b', 9);
    t.arm('a', 1);
    const seen: string[] = [];
    for (const f of t.sweep(10)) {
      seen.push(f.name);
      if (f.name === 'a') t.disarm('b'); // b was due, but a's handler cancels it
    }
    expect(seen).toEqual(['a', 'c']);
    const t2 = new Timers<N>(NAMES);
    t2.arm('a', 1);
    const seen2: string[] = [];
    for (const f of t2.sweep(10)) {
      seen2.push(f.name);
      if (f.name === 'a') t2.arm('c', 10); // armed due by a handler: reached later in the same pass
    }
    expect(seen2).toEqual(['a', 'c']);
  });

  test('sweep limited to some names leaves the others armed', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 1);
    t.arm('b', 1);
    expect([...t.sweep(5, ['b'])].map((f) => f.name)).toEqual(['b']);
    expect(t.at('a')).toBe(1);
  });

  test('sweep yields due ids of a name; disarmAll stops a sweep in progress', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 1, 1);
    t.arm('a', 2, 2);
    t.arm('a', 9, 3);
    t.arm('b', 1);
    const seen: string[] = [];
    for (const f of t.sweep(5)) {
      seen.push(`${f.name}${f.id ?? ''}`);
      if (f.id === 2) t.disarmAll(['c']);
    }
    expect(seen).toEqual(['a1', 'a2']);
    expect(t.next()).toBeUndefined();
  });

  test('disarmAll keeps the named timers', () => {
    const t = new Timers<N>(NAMES);
    t.arm('a', 1);
    t.arm('b', 2);
    t.arm('c', 3, 4);
    t.disarmAll(['b']);
    expect(t.next()).toBe(2);
    expect(t.at('c', 4)).toBeUndefined();
  });

  test('an unknown name is a programming error', () => {
    const t = new Timers<string>(['a']);
    expect(() => t.arm('z', 1)).toThrow(/unknown timer z/);
  });
});
