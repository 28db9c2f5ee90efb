/**
 * Property test (fast-check): the RPC client with a real NTLM provider (core/ntlm/providers.ts, raw NTLMSSP and
 * SPNEGO) paired in memory with core/rpc/server.ts at PKT_PRIVACY and PKT_INTEGRITY. The server's protected
 * response is mutated (bytes changed, cut short, split into chunks) before the client sees it: the client never
 * throws, emits only typed events, and never delivers a mutated response as a good `response`. The unmutated one
 * is delivered, so the setup is one where a response can arrive.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthLevel } from '../../../core/rpc/security';
import { Kind, Level, REPLY, TYPES, apply, callOut, feed, mutation } from '../../fuzz/arbitraries/sealed';

const CASES: { kind: Kind; level: Level }[] = [
  { kind: 'ntlm', level: AuthLevel.PKT_PRIVACY },
  { kind: 'spnego', level: AuthLevel.PKT_PRIVACY },
  { kind: 'ntlm', level: AuthLevel.PKT_INTEGRITY },
];

describe('rpc fuzz: protected responses through a real NTLM provider', () => {
  for (const { kind, level } of CASES) {
    const name = `${kind} at ${level === AuthLevel.PKT_PRIVACY ? 'PKT_PRIVACY' : 'PKT_INTEGRITY'}`;

    it(`${name}: the response as sent is delivered (the setup can deliver one)`, () => {
      const { c, response } = callOut(kind, level);
      const events = feed(c, [response]);
      expect(events[0]).toEqual({ type: 'response', callId: 2, stub: REPLY });
    });

    it(`${name}: a response cut short and completed by the next bytes of the stream is delivered (the case npm run fuzz found)`, () => {
      const { c, response } = callOut(kind, level);
      const { chunks } = apply(response, { changes: [], cut: response.length - 2, splits: [], trailing: Uint8Array.from(response.subarray(-2)) });
      expect(Buffer.concat(chunks).equals(response)).toBe(true);
      const events = feed(c, chunks);
      expect(events[0]).toEqual({ type: 'response', callId: 2, stub: REPLY });
    });

    it(`${name}: a mutated response never throws, gives only typed events, and is never delivered as a response`, () => {
      fc.assert(
        fc.property(mutation, (m) => {
          const { c, response } = callOut(kind, level);
          const { bytes, chunks } = apply(response, m);
          // a mutation that changed nothing (or cancelled out, or whose trailing bytes put back what was cut) is the case above
          fc.pre(!bytes.equals(response) && !Buffer.concat(chunks).subarray(0, response.length).equals(response));
          const events = feed(c, chunks);
          for (const e of events) expect(TYPES).toContain(e.type);
          expect(events.filter((e) => e.type === 'response')).toEqual([]);
          // the call ends with a typed failure: an error for it, or the close that lists it as pending
          const failed = events.some((e) => (e.type === 'error' && (e.callId === 2 || e.fatal)) || (e.type === 'closed' && e.pendingCallIds.includes(2)) || e.type === 'fault');
          expect(failed, JSON.stringify(events.map((e) => e.type))).toBe(true);
        }),
        { numRuns: 150 },
      );
    });
  }
});
