"""An independent NTLM peer for test/core/ntlm/impacket.test.ts, built on impacket's ntlm module.

verify  (stdin: JSON from our client's exchange) parses our CHALLENGE and AUTHENTICATE with impacket, recomputes
        NTProofStr, the session base key, the exported session key and the MIC from the password, unseals the PDU
        our client sealed, and seals one with the server keys for our client to unseal.
type1   prints the NEGOTIATE impacket sends (signing and sealing asked for).
type3   (stdin: JSON with our server's CHALLENGE) prints impacket's AUTHENTICATE for it, its exported session key,
        and a PDU sealed with impacket's client keys (sequence number 0).
spnego-parse   (stdin: our client's negTokenInit) what impacket's SPNEGO parser reads from it.
spnego-init    impacket's negTokenInit around its NEGOTIATE, as its DCE/RPC client sends for auth type 9.
spnego-type3   (stdin: our server's negTokenResp + credentials) impacket parses it, answers with a negTokenResp
               around its AUTHENTICATE.
Everything is hex in JSON on stdout; the password only ever arrives on stdin.
"""
import json
import sys

from Cryptodome.Cipher import ARC4
from impacket import ntlm, spnego

# Mirrors the fake PDU of the TypeScript side: 16-byte header, stub, 8-byte sec_trailer.
def pdu(stub):
    return b"\x05" * 16 + stub + bytes([10, 6, 0, 0, 0, 0, 0, 0])


def sealer(flags, key, mode):
    sign_key = ntlm.SIGNKEY(flags, key, mode)
    seal_key = ntlm.SEALKEY(flags, key, mode)
    return sign_key, ARC4.new(seal_key).encrypt


def verify(req):
    user, password, domain = req["user"], req["password"], req["domain"]
    neg = bytes.fromhex(req["negotiate"])
    chal_bytes = bytes.fromhex(req["challenge"])
    auth_bytes = bytes.fromhex(req["authenticate"])
    chal = ntlm.NTLMAuthChallenge(chal_bytes)
    auth = ntlm.NTLMAuthChallengeResponse()
    auth.fromString(auth_bytes)
    nt = auth["ntlm"]
    key_nt = ntlm.NTOWFv2(user, password, domain)
    proof = ntlm.hmac_md5(key_nt, chal["challenge"] + nt[16:])
    base = ntlm.hmac_md5(key_nt, nt[:16])
    off, ln = auth["session_key_offset"], auth["session_key_len"]
    exported = ARC4.new(base).decrypt(auth_bytes[off:off + ln])
    zeroed = auth_bytes[:72] + b"\x00" * 16 + auth_bytes[88:]
    mic = ntlm.hmac_md5(exported, neg + chal_bytes + zeroed)
    flags = auth["flags"]

    # Our client's sealed PDU, unsealed with impacket's client-to-server keys.
    sign_c, handle_c = sealer(flags, exported, "Client")
    sealed = bytearray(bytes.fromhex(req["clientPdu"]))
    start, end = req["start"], req["end"]
    sealed[start:end] = handle_c(bytes(sealed[start:end]))
    sig = ntlm.MAC(flags, handle_c, sign_c, 0, bytes(sealed))
    # A PDU sealed with impacket's server-to-client keys for our client.
    sign_s, handle_s = sealer(flags, exported, "Server")
    plain = pdu(b"sealed by impacket as the server")
    s_start, s_end = 16, len(plain) - 8
    enc, s_sig = ntlm.SEAL(flags, sign_s, None, plain, plain[s_start:s_end], 0, handle_s)
    out_pdu = plain[:s_start] + enc + plain[s_end:]
    return {
        "user": auth["user_name"].decode("utf-16le"),
        "domain": auth["domain_name"].decode("utf-16le"),
        "ntProofOk": proof == nt[:16],
        "sessionBaseKey": base.hex(),
        "exportedSessionKey": exported.hex(),
        "micOk": mic == auth_bytes[72:88],
        "clientStub": bytes(sealed[start:end]).hex(),
        "clientSigOk": sig.getData() == bytes.fromhex(req["clientSig"]),
        "serverPdu": out_pdu.hex(),
        "serverSig": s_sig.getData().hex(),
        "serverStart": s_start,
        "serverEnd": s_end,
    }


def type1():
    return {"negotiate": ntlm.getNTLMSSPType1("", "", signingRequired=True).getData().hex()}


def type3(req):
    t1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    t3, exported = ntlm.getNTLMSSPType3(t1, bytes.fromhex(req["challenge"]), req["user"], req["password"], req["domain"])
    flags = t3["flags"]
    sign_c, handle_c = sealer(flags, exported, "Client")
    plain = pdu(b"sealed by impacket as the client")
    start, end = 16, len(plain) - 8
    enc, sig = ntlm.SEAL(flags, sign_c, None, plain, plain[start:end], 0, handle_c)
    return {
        "authenticate": t3.getData().hex(),
        "exportedSessionKey": exported.hex(),
        "pdu": (plain[:start] + enc + plain[end:]).hex(),
        "sig": sig.getData().hex(),
        "start": start,
        "end": end,
    }


def spnego_parse(req):
    init = spnego.SPNEGO_NegTokenInit()
    init.fromString(bytes.fromhex(req["token"]))
    return {"mechTypes": [m.hex() for m in init["MechTypes"]], "mechToken": init["MechToken"].hex()}


def spnego_init():
    init = spnego.SPNEGO_NegTokenInit()
    init["MechTypes"] = [spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    init["MechToken"] = ntlm.getNTLMSSPType1("", "", signingRequired=True).getData()
    return {"token": init.getData().hex()}


def spnego_type3(req):
    resp = spnego.SPNEGO_NegTokenResp(bytes.fromhex(req["token"]))
    challenge = resp["ResponseToken"]
    t1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    t3, _ = ntlm.getNTLMSSPType3(t1, challenge, req["user"], req["password"], req["domain"])
    out = spnego.SPNEGO_NegTokenResp()
    out["ResponseToken"] = t3.getData()
    return {
        "negState": resp["NegState"].hex(),
        "supportedMech": resp["SupportedMech"].hex(),
        "challenge": challenge.hex(),
        "token": out.getData().hex(),
    }


MODES = {"verify": verify, "type3": type3, "spnego-parse": spnego_parse, "spnego-type3": spnego_type3}

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "type1":
        result = type1()
    elif mode == "spnego-init":
        result = spnego_init()
    else:
        result = MODES[mode](json.load(sys.stdin))
    json.dump(result, sys.stdout)
