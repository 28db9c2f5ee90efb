/**
 * Property tests (fast-check) for the server's decoders-on-input: the server connection fed arbitrary bytes, captured
 * client PDUs and mutations of a real client's PDUs, in arbitrary chunks, never throws, emits only typed events,
 * sends only PDUs that decode, and every malformed input it closes on is counted. The ept_map request decoder
 * never throws; the ept_map response encoder round-trips through the client's decoder.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEptMapRequest, decodeEptMapResponse, encodeEptMapRequest, encodeEptMapResponse } from '../../../core/rpc/epm';
import { isWellFormedResult } from '../codec/helpers';
import { V } from './vectors';
import { bytes, clientPdus, feed, mutatePdus, newServer } from '../../fuzz/arbitraries/rpc-server';

describe('rpc server fuzz', () => {
  it('arbitrary bytes and captured client PDUs in arbitrary chunks never make it throw', () => {
    const captured = [V.bindEpm, V.eptMapRequest, V.getInfoRequest, V.badOpnumRequest, V.bindNtlm, V.sealedRequest, V.signedRequest, V.alterContext];
    fc.assert(
      fc.property(fc.array(fc.oneof(bytes(60), fc.constantFrom(...captured)), { maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (parts, size) => {
        const all = Buffer.concat(parts);
        const chunks: Buffer[] = [];
        for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
        feed(newServer(), chunks);
      }),
      { numRuns: 300 },
    );
  });

  it("mutations of a real client's NTLM PKT_PRIVACY exchange: answered, faulted or closed, and counted", () => {
    const pdus = clientPdus();
    expect(pdus.length).toBe(3); // bind, rpc_auth_3, request
    fc.assert(
      fc.property(mutatePdus(pdus), (ps) => {
        const s = newServer();
        feed(s, ps);
        const st = s.stats;
        // Whatever happened is visible in a counter: a served request, a refusal of some kind, or (a frag_length
        // grown by the mutation) a PDU never completed, closed by the idle timeout.
        expect(st.requests + st.malformed + st.protocolErrors + st.authFailures + st.securityErrors + st.faults + st.idleCloses + st.bindNaks).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('decodeEptMapRequest never throws; ept_map requests and responses round-trip', () => {
    fc.assert(fc.property(bytes(200), (b) => isWellFormedResult(decodeEptMapRequest(b))), { numRuns: 400 });
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), fc.ipV4(), fc.integer({ min: 1, max: 8 }), (uuid, major, port, address, maxTowers) => {
        const iface = { uuid, major, minor: 0 };
        const q = decodeEptMapRequest(encodeEptMapRequest(iface, maxTowers));
        expect(q.ok && q.value).toEqual({ iface: { ...iface, uuid: uuid.toLowerCase() }, maxTowers });
        const r = decodeEptMapResponse(encodeEptMapResponse({ status: 0, endpoints: [{ iface, port, address }] }, maxTowers));
        expect(r.ok && r.value).toEqual({ status: 0, endpoints: [{ iface: { ...iface, uuid: uuid.toLowerCase() }, port, address }] });
      }),
      { numRuns: 300 },
    );
  });
});
