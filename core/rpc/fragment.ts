/**
 * A call's stub as request or response fragments (C706 12.6.4.2; MS-RPCE 2.2.2.6), each protected per its auth
 * level (MS-RPCE 3.3.1.5.2: PKT_PRIVACY seals the stub and signs, PKT_INTEGRITY signs). One copy for the client's
 * requests and the server's responses. Sans-I/O.
 */
import { AuthVerifier, Pdu, Pfc, REQUEST_HEADER_LEN, SEC_TRAILER_LEN, STUB_AUTH_ALIGN, encodePduLayout } from './pdu';
import { AuthLevel, SecurityProvider } from './security';

/** How the fragments are protected: the established provider, the level, and the sec_trailer to carry. */
export interface Protection {
  provider: Pick<SecurityProvider, 'signatureLength' | 'seal' | 'sign'>;
  level: number;
  /** The sec_trailer with this auth_value (a placeholder of the signature's length, overwritten once signed). */
  verifier: (authValue: Buffer) => AuthVerifier;
}

/**
 * The PDUs that carry `stub` within `xmitFrag` bytes each. `pdu` builds one fragment (a REQUEST or a RESPONSE)
 * from its stub chunk, flags (FIRST/LAST_FRAG), alloc_hint (what remains, this fragment included) and sec_trailer.
 */
export function fragments(stub: Buffer, xmitFrag: number, sec: Protection | undefined, pdu: (chunk: Buffer, flags: number, allocHint: number, auth: AuthVerifier | undefined) => Pdu): Buffer[] {
  const overhead = REQUEST_HEADER_LEN + (sec ? SEC_TRAILER_LEN + sec.provider.signatureLength : 0);
  let room = xmitFrag - overhead;
  if (sec) room -= room % STUB_AUTH_ALIGN; // full fragments need no auth padding, the last one's fits in what it leaves
  const out: Buffer[] = [];
  let off = 0;
  do {
    const chunk = stub.subarray(off, off + room);
    const first = off === 0;
    off += chunk.length;
    const flags = (first ? Pfc.FIRST_FRAG : 0) | (off >= stub.length ? Pfc.LAST_FRAG : 0);
    const layout = encodePduLayout(pdu(chunk, flags, stub.length - off + chunk.length, sec?.verifier(Buffer.alloc(sec.provider.signatureLength))));
    if (sec) {
      const { pdu: bytes, dataStart, dataEnd, signedEnd } = layout;
      const sig = sec.level === AuthLevel.PKT_PRIVACY ? sec.provider.seal(bytes, dataStart, dataEnd, signedEnd) : sec.provider.sign(bytes, signedEnd);
      sig.copy(bytes, signedEnd, 0, Math.min(sig.length, bytes.length - signedEnd));
    }
    out.push(layout.pdu);
  } while (off < stub.length);
  return out;
}
