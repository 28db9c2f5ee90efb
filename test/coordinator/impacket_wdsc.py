"""impacket as an independent DCE/RPC + NTLM client of the coordinator's WDSC listener (test/coordinator/impacket.test.ts).

stdin: JSON {host, port, mode, user, password, domain, namespace, content, client}; stdout: one JSON object.
The password only ever arrives on stdin.

mode "dcerpc"   impacket's own DCE/RPC client (transport.DCERPCTransportFactory('ncacn_ip_tcp:host[port]'),
                set_credentials, auth type RPC_C_AUTHN_WINNT (10), auth level PKT_PRIVACY; empty user and password
                make it anonymous NTLM).
mode "none"     the same client at RPC_C_AUTHN_LEVEL_NONE (no sec_trailer at all).
mode "spnego"   auth type RPC_C_AUTHN_GSS_NEGOTIATE (9) wrapping NTLMSSP. impacket's DCERPC_v5 uses Kerberos for
                type 9, so this mode builds the PDUs from impacket's own pieces: MSRPCHeader/MSRPCBind/SEC_TRAILER
                for the PDUs, spnego.SPNEGO_NegTokenInit/NegTokenResp around ntlm.getNTLMSSPType1/Type3, ntlm.SEAL
                for the request (stub padded to 16, MS-RPCE 2.2.2.11), and unseals the response and checks the
                server's signature with ntlm.SEALKEY/SIGNKEY/MAC (impacket's own client never checks it).

In every mode the WDSMC_OP_INITIATE request is packed here, by hand, from MS-WDSC 2.2.1 and MS-WDSMSI 2.2.1
(not with osdcast's encoder), and the reply's variables are read here the same way.
"""
import json
import struct
import sys
import uuid

from Cryptodome.Cipher import ARC4
from impacket import ntlm, spnego
from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import (
    MSRPC_AUTH3, MSRPC_BIND, MSRPC_BINDACK, MSRPC_FAULT, MSRPC_REQUEST, MSRPC_RESPONSE, PFC_FIRST_FRAG, PFC_LAST_FRAG,
    RPC_C_AUTHN_LEVEL_NONE, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, RPC_C_AUTHN_WINNT, SEC_TRAILER, CtxItem, DCERPCException,
    MSRPCBind, MSRPCBindAck, MSRPCHeader,
)
from impacket.uuid import uuidtup_to_bin

WDSC = ("1A927394-352E-4553-AE3F-7CF4AAFCA620", "1.0")
NDR = ("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0")
MSI_ENDPOINT = "6f13a317-3687-4b54-81a5-504daa9062fa"  # MS-WDSMSI 1.9
WDSMC_OP_INITIATE = 6
RPC_C_AUTHN_GSS_NEGOTIATE = 9

# MS-WDSC 2.2.1.3.2.1 base types.
VAR_BYTE, VAR_USHORT, VAR_ULONG, VAR_ULONG64, VAR_STRING, VAR_WSTRING, VAR_BLOB = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40


def variable(name, vtype, value):
    """Variable Description Block (MS-WDSC 2.2.1.3.1): 66-byte UTF-16 name, pad, type, length, array size 0,
    value, padding to a multiple of 16."""
    block = name.encode("utf-16le").ljust(66, b"\0") + b"\0\0" + struct.pack("<III", vtype, len(value), 0) + value
    return block + b"\0" * (-len(block) % 16)


def wstr(s):
    return s.encode("utf-16le") + b"\0\0"


def initiate_packet(namespace, content, client):
    """MS-WDSC 2.2.1: Endpoint Header (40), Operation Header (16), the MS-WDSMSI 2.2.1 request variables."""
    body = b"".join([
        variable("Namespace", VAR_WSTRING, wstr(namespace)),
        variable("Content", VAR_WSTRING, wstr(content)),
        variable("Client", VAR_WSTRING, wstr(client)),
        variable("Cap", VAR_ULONG, struct.pack("<I", 0x1 | 0x4)),  # CHECKSUM | BOOT_DEVICE
    ])
    operation = struct.pack("<IHBBII", 16 + len(body), 0x0100, 0x01, 0, WDSMC_OP_INITIATE, 4)
    total = 40 + len(operation) + len(body)
    endpoint = struct.pack("<HHI", 0x28, 0x0100, total) + uuid.UUID(MSI_ENDPOINT).bytes_le + b"\0" * 16
    return endpoint + operation + body


def wds_rpc_message_stub(packet):
    """[in] uRequestPacketSize, [in, size_is] bRequestPacket: the size, then the conformant array (max_count)."""
    stub = struct.pack("<II", len(packet), len(packet)) + packet
    return stub + b"\0" * (-len(stub) % 4)


def read_response_stub(stub):
    """[out] puReplyPacketSize, [out] pbReplyPacket (unique pointer to a conformant array), return value."""
    size, ref = struct.unpack_from("<II", stub, 0)
    off = 8
    reply = None
    if ref:
        (count,) = struct.unpack_from("<I", stub, off)
        off += 4
        reply = stub[off:off + count]
        off += count + (-count % 4)
    (status,) = struct.unpack_from("<I", stub, off)
    return size, reply, status


def read_reply(packet):
    hsize, _, psize = struct.unpack_from("<HHI", packet, 0)
    endpoint = str(uuid.UUID(bytes_le=bytes(packet[8:24])))
    _, _, ptype, _, code, count = struct.unpack_from("<IHBBII", packet, hsize)
    off = hsize + 16
    variables = {}
    for _ in range(count):
        name = packet[off:off + 66].decode("utf-16le").split("\0")[0]
        vtype, vlen, asize = struct.unpack_from("<III", packet, off + 68)
        value = packet[off + 80:off + 80 + vlen * (asize or 1)]
        used = 80 + len(value)
        off += used + (-used % 16)
        variables[name.lower()] = (vtype, value)

    def num(name):
        if name.lower() not in variables:
            return None
        vtype, v = variables[name.lower()]
        return int.from_bytes(v, "little") if vtype in (VAR_BYTE, VAR_USHORT, VAR_ULONG, VAR_ULONG64) else "type %d" % vtype

    def ip(name):
        v = variables.get(name.lower())
        return ".".join(str(x) for x in v[1]) if v and len(v[1]) == 4 else None

    meta = variables.get("contentmetadata")
    return {
        "packetSize": psize, "packetLength": len(packet), "endpoint": endpoint, "packetType": ptype, "errorCode": code,
        "variables": sorted(variables),
        "multicastAddr": ip("TpMcAddress.Address"), "multicastPort": num("TpMcAddress.Port"),
        "serverAddr": ip("TpUniAddress.Address"), "serverPort": num("TpUniAddress.Port"),
        "sessionId": num("SessionId"), "contentSize": num("ContentSize"), "blockSize": num("BlockSize"),
        "totalBlocks": num("TotalBlocks"), "contentMetadataLength": None if meta is None else len(meta[1]),
    }


def result_from_stub(stub):
    size, reply, status = read_response_stub(stub)
    out = {"ok": True, "returnValue": status, "replySize": size}
    if reply is not None:
        out["reply"] = read_reply(reply)
    return out


def via_dcerpc(req, level):
    t = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[%d]" % (req["host"], req["port"]))
    if level != RPC_C_AUTHN_LEVEL_NONE:
        t.set_credentials(req.get("user", ""), req.get("password", ""), req.get("domain", ""))
    dce = t.get_dce_rpc()
    dce.set_auth_type(RPC_C_AUTHN_WINNT)
    dce.set_auth_level(level)
    dce.connect()
    try:
        dce.bind(uuidtup_to_bin(WDSC))
        dce.call(0, wds_rpc_message_stub(initiate_packet(req["namespace"], req["content"], req["client"])))
        return result_from_stub(dce.recv())
    finally:
        dce.disconnect()


def pdu(ptype, call_id, pdu_data, auth_level, auth_data, pad_to):
    p = MSRPCHeader()
    p["type"] = ptype
    p["flags"] = PFC_FIRST_FRAG | PFC_LAST_FRAG
    p["call_id"] = call_id
    pad = (pad_to - len(pdu_data) % pad_to) % pad_to
    p["pduData"] = pdu_data + b"\0" * pad
    sec = SEC_TRAILER()
    sec["auth_type"] = RPC_C_AUTHN_GSS_NEGOTIATE
    sec["auth_level"] = auth_level
    sec["auth_pad_len"] = pad
    sec["auth_ctx_id"] = 79231
    p["sec_trailer"] = sec
    p["auth_data"] = auth_data
    return p


def via_spnego(req):
    t = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[%d]" % (req["host"], req["port"]))
    t.connect()
    try:
        level = RPC_C_AUTHN_LEVEL_PKT_PRIVACY
        type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
        init = spnego.SPNEGO_NegTokenInit()
        init["MechTypes"] = [spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
        init["MechToken"] = type1.getData()
        bind = MSRPCBind()
        item = CtxItem()
        item["AbstractSyntax"] = uuidtup_to_bin(WDSC)
        item["TransferSyntax"] = uuidtup_to_bin(NDR)
        item["ContextID"] = 0
        item["TransItems"] = 1
        bind.addCtxItem(item)
        # The bind body is 4-aligned already (72 bytes with one context): the common header is prepended later.
        t.send(pdu(MSRPC_BIND, 1, bind.getData(), level, init.getData(), 4).get_packet())
        ack = MSRPCHeader(t.recv())
        if ack["type"] != MSRPC_BINDACK:
            return {"ok": False, "error": "bind answered with PTYPE %d" % ack["type"]}
        ack_body = MSRPCBindAck(ack.getData())
        if ack_body.getCtxItem(1)["Result"] != 0:
            return {"ok": False, "error": "context rejected: result %d" % ack_body.getCtxItem(1)["Result"]}
        server_token = spnego.SPNEGO_NegTokenResp(ack_body["auth_data"])
        type3, key = ntlm.getNTLMSSPType3(type1, server_token["ResponseToken"], req["user"], req["password"], req["domain"])
        flags = type3["flags"]
        resp = spnego.SPNEGO_NegTokenResp()
        resp["ResponseToken"] = type3.getData()
        t.send(pdu(MSRPC_AUTH3, 1, b"    ", level, resp.getData(), 4).get_packet())

        c_sign, c_seal = ntlm.SIGNKEY(flags, key, "Client"), ntlm.SEALKEY(flags, key, "Client")
        s_sign, s_seal = ntlm.SIGNKEY(flags, key, "Server"), ntlm.SEALKEY(flags, key, "Server")
        c_rc4, s_rc4 = ARC4.new(c_seal).encrypt, ARC4.new(s_seal).encrypt

        stub = wds_rpc_message_stub(initiate_packet(req["namespace"], req["content"], req["client"]))
        header = struct.pack("<IHH", len(stub), 0, 0)  # alloc_hint, p_cont_id, opnum 0
        request = pdu(MSRPC_REQUEST, 2, header + stub, level, b"\0" * 16, 16)
        # Only the stub and its padding are sealed; the signature covers the whole PDU up to the sec_trailer's end.
        raw = request.get_packet()
        plain = raw[24:-24]
        sealed, signature = ntlm.SEAL(flags, c_sign, c_seal, raw[:-16], plain, 0, c_rc4)
        t.send(raw[:24] + sealed + raw[-24:-16] + signature.getData())

        answer = t.recv()
        head = MSRPCHeader(answer)
        if head["type"] == MSRPC_FAULT:
            (status,) = struct.unpack_from("<I", answer, 24)
            return {"ok": False, "error": "fault 0x%08x" % status, "fault": status}
        if head["type"] != MSRPC_RESPONSE:
            return {"ok": False, "error": "request answered with PTYPE %d" % head["type"]}
        auth_len = head["auth_len"]
        trailer = SEC_TRAILER(data=answer[-auth_len - 8:])
        clear = s_rc4(answer[24:-auth_len - 8])
        rebuilt = answer[:24] + clear + answer[-auth_len - 8:-auth_len]
        expected = ntlm.MAC(flags, s_rc4, s_sign, 0, rebuilt)
        out = result_from_stub(clear[:len(clear) - trailer["auth_pad_len"]])
        out["serverSignatureOk"] = expected.getData() == answer[-16:]
        out["authLevel"] = trailer["auth_level"]
        return out
    finally:
        t.disconnect()


def main():
    req = json.load(sys.stdin)
    try:
        if req["mode"] == "dcerpc":
            out = via_dcerpc(req, RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        elif req["mode"] == "none":
            out = via_dcerpc(req, RPC_C_AUTHN_LEVEL_NONE)
        elif req["mode"] == "spnego":
            out = via_spnego(req)
        else:
            raise ValueError("unknown mode %r" % req["mode"])
    except DCERPCException as e:
        out = {"ok": False, "error": str(e), "fault": getattr(e, "error_code", None)}
    except (OSError, struct.error) as e:
        out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
