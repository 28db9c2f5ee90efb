/**
 * MS-WDSMSI 2.2.1: WDSMC_OP_INITIATE (opcode 6 under the Multicast Session Initiation Endpoint GUID), carried in
 * an MS-WDSC packet (./packet.ts). Client side: buildInitiateRequest, decodeInitiateResult. Server side (the test
 * coordinator): decodeInitiateRequest, encodeInitiateReply, encodeInitiateError.
 */
import { Decoded, fail, ok } from '../codec/bytes';
import { bytesToIp, ipToBytes, win32Name } from '../codec/msi';
import { MAX_BLOCK_SIZE } from '../codec/ma';
import { PacketType, WdscPacket, WdscVariable, decodeWdsc, encodeWdsc, findVariable, isEndpoint } from './packet';

/** MS-WDSMSI 1.9. */
export const MSI_ENDPOINT = '6f13a317-3687-4b54-81a5-504daa9062fa';
export const WDSMC_OP_INITIATE = 0x00000006;

/** MS-WDSMSI 2.2.1 Cap flags. */
export const Cap = {
  CHECKSUM: 0x00000001,
  IPV6: 0x00000002,
  BOOT_DEVICE: 0x00000004,
} as const;

/** MS-WDSMSI 2.2.1 Client: at most 16 characters including the null. */
const CLIENT_NAME_MAX = 15;

/** Variable names as MS-WDSMSI 2.2.1 spells them (compared case-insensitively on receive). */
const V = {
  NAMESPACE: 'Namespace',
  CONTENT: 'Content',
  CLIENT: 'Client',
  CAP: 'Cap',
  MC_PORT: 'TpMcAddress.Port',
  MC_ADDR: 'TpMcAddress.Address',
  UNI_PORT: 'TpUniAddress.Port',
  UNI_ADDR: 'TpUniAddress.Address',
  SESSION_ID: 'SessionId',
  CONTENT_SIZE: 'ContentSize',
  BLOCK_SIZE: 'BlockSize',
  TOTAL_BLOCKS: 'TotalBlocks',
  CONTENT_METADATA: 'ContentMetadata',
  SYM_KEY: 'SymKey',
  SIGN_KEY: 'SignKey',
  HASH_ALG_ID: 'HashAlgId',
  HMAC_ALG_ID: 'HMACAlgId',
  SEC_MODE: 'SecMode',
  USER_SID: 'UserSid',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------------------------
export interface InitiateRequestInput {
  namespace: string;
  content: string;
  /** The machine name; cut to 15 characters (the 16th is the null) if longer. */
  clientName: string;
  /** WinPE, or --pre-os: adds WDSMC_CLIENT_CAP_BOOT_DEVICE. */
  bootDevice: boolean;
}

export interface BuiltInitiateRequest {
  packet: Buffer;
  /** The name actually sent. */
  clientName: string;
  /** True when clientName is shorter than the name given (the agent logs it). */
  clientNameCut: boolean;
  cap: number;
}

/** 15 UTF-16 code units, one fewer if the cut would split a surrogate pair. */
function cutClientName(name: string): string {
  if (name.length <= CLIENT_NAME_MAX) return name;
  const c = name.charCodeAt(CLIENT_NAME_MAX - 1);
  return name.slice(0, c >= 0xd800 && c <= 0xdbff ? CLIENT_NAME_MAX - 1 : CLIENT_NAME_MAX);
}

/** Cap is always CHECKSUM (plus BOOT_DEVICE before the OS); never IPV6: this build receives IPv4 only. */
export function buildInitiateRequest(input: InitiateRequestInput): BuiltInitiateRequest {
  const clientName = cutClientName(input.clientName);
  const cap = Cap.CHECKSUM | (input.bootDevice ? Cap.BOOT_DEVICE : 0);
  const packet = encodeWdsc({
    endpoint: MSI_ENDPOINT,
    packetType: PacketType.REQUEST,
    code: WDSMC_OP_INITIATE,
    variables: [
      { name: V.NAMESPACE, type: 'WSTRING', value: input.namespace },
      { name: V.CONTENT, type: 'WSTRING', value: input.content },
      { name: V.CLIENT, type: 'WSTRING', value: clientName },
      { name: V.CAP, type: 'ULONG', value: cap },
    ],
  });
  return { packet, clientName, clientNameCut: clientName !== input.clientName, cap };
}

export interface InitiateRequest {
  namespace: string;
  content: string;
  client: string;
  /** Absent when the request has no Cap variable (MS-WDSMSI note <3>: only some clients send it). */
  cap?: number;
}

type Lookup<T> = T | { code: 'missing-option' | 'bad-value' | 'bad-length'; message: string };
const isProblem = <T>(x: Lookup<T>): x is { code: 'missing-option' | 'bad-value' | 'bad-length'; message: string } =>
  typeof x === 'object' && x !== null && 'code' in x && 'message' in x && !Buffer.isBuffer(x);

/** A string variable: WSTRING as specified; STRING accepted too (protocol-notes #30). */
function str(p: WdscPacket, name: string): Lookup<string> {
  const v = findVariable(p, name);
  if (!v) return { code: 'missing-option', message: `missing ${name}` };
  if (v.type !== 'WSTRING' && v.type !== 'STRING') return { code: 'bad-value', message: `${name} is ${v.type}, expected WSTRING` };
  return v.value;
}

/** A numeric variable: any of the four numeric types (protocol-notes #30); above 2^53 is bad-value. */
function num(p: WdscPacket, name: string, max = Number.MAX_SAFE_INTEGER): Lookup<number> | undefined {
  const v = findVariable(p, name);
  if (!v) return undefined;
  if (v.type !== 'BYTE' && v.type !== 'USHORT' && v.type !== 'ULONG' && v.type !== 'ULONG64') return { code: 'bad-value', message: `${name} is ${v.type}, expected a number` };
  if (BigInt(v.value) > BigInt(max)) return { code: 'bad-value', message: `${name} ${v.value} exceeds ${max}` };
  return Number(v.value);
}

function need(x: Lookup<number> | undefined, name: string): Lookup<number> {
  return x === undefined ? { code: 'missing-option', message: `missing ${name}` } : x;
}

function blob(p: WdscPacket, name: string, ...aliases: string[]): Lookup<Buffer> | undefined {
  const v = findVariable(p, name, ...aliases);
  if (!v) return undefined;
  if (v.type !== 'BLOB' && v.type !== 'BYTE[]') return { code: 'bad-value', message: `${name} is ${v.type}, expected BLOB` };
  return v.type === 'BLOB' ? v.value : Buffer.from(v.value);
}

function checkOperation(p: WdscPacket): Decoded<null> {
  if (!isEndpoint(p, MSI_ENDPOINT)) return fail('bad-magic', `Endpoint GUID ${p.endpoint}, expected ${MSI_ENDPOINT}`);
  return ok(null);
}

/** Server side: the request a client sent. Packet-Type is not checked (MS-WDSC 2.2.1.2.1: the server MAY). */
export function decodeInitiateRequest(buf: Buffer): Decoded<InitiateRequest> {
  const d = decodeWdsc(buf);
  if (!d.ok) return d;
  const p = d.value;
  const e = checkOperation(p);
  if (!e.ok) return e;
  if (p.code !== WDSMC_OP_INITIATE) return fail('unknown-opcode', `MSI opcode ${p.code}, expected WDSMC_OP_INITIATE (6)`);
  const namespace = str(p, V.NAMESPACE);
  const content = str(p, V.CONTENT);
  const client = str(p, V.CLIENT);
  const cap = num(p, V.CAP, 0xffffffff);
  for (const x of [namespace, content, client, cap]) if (x !== undefined && isProblem(x)) return fail(x.code, x.message);
  const req: InitiateRequest = { namespace: namespace as string, content: content as string, client: client as string };
  if (cap !== undefined) req.cap = cap as number;
  return ok(req);
}

// ---------------------------------------------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------------------------------------------
export interface InitiateReply {
  kind: 'reply';
  multicastAddr: string;
  multicastPort: number;
  serverAddr: string;
  serverPort: number;
  sessionId: number;
  contentSize: number;
  blockSize: number;
  totalBlocks: number;
  /** Empty when the server sent none or a zero-length one (protocol-notes #29). */
  contentMetadata: Buffer;
  /** Raw SecMode (client mode and server mode halves, MS-WDSMSI 2.2.1); absent from Server 2016+ (note <4>). */
  secMode?: number;
  /** SymKey, the HashKey of MS-WDSMSI 3.1.1.3 (variable also accepted under that name). */
  symKey?: Buffer;
  signKey?: Buffer;
  hashAlgId?: number;
  hmacAlgId?: number;
  /** MS-DTYP 2.4.2 SID; absent from Server 2016+ (note <5>). */
  userSid?: Buffer;
}

/** A Win32 error from the server: WdsRpcMessage's return value, or the reply's OpCode-ErrorCode. */
export interface InitiateError {
  kind: 'error';
  source: 'status' | 'reply';
  win32: number;
  /** "ERROR_FILE_NOT_FOUND (2)": the same naming as an error over UDP. */
  name: string;
}

export type InitiateResult = InitiateReply | InitiateError;

/** Server side: a reply carrying the session. */
export function encodeInitiateReply(r: Omit<InitiateReply, 'kind'>): Buffer {
  const vars: WdscVariable[] = [
    { name: V.MC_PORT, type: 'ULONG', value: r.multicastPort },
    { name: V.MC_ADDR, type: 'BLOB', value: ipToBytes(r.multicastAddr) },
    { name: V.UNI_PORT, type: 'ULONG', value: r.serverPort },
    { name: V.UNI_ADDR, type: 'BLOB', value: ipToBytes(r.serverAddr) },
    { name: V.SESSION_ID, type: 'ULONG', value: r.sessionId },
    { name: V.CONTENT_SIZE, type: 'ULONG64', value: BigInt(r.contentSize) },
    { name: V.BLOCK_SIZE, type: 'ULONG', value: r.blockSize },
    { name: V.TOTAL_BLOCKS, type: 'ULONG64', value: BigInt(r.totalBlocks) },
  ];
  // MS-WDSMSI 3.1.5.2: no ContentMetadata variable when there is none (protocol-notes #29).
  if (r.contentMetadata.length) vars.push({ name: V.CONTENT_METADATA, type: 'BLOB', value: r.contentMetadata });
  if (r.symKey) vars.push({ name: V.SYM_KEY, type: 'BLOB', value: r.symKey });
  if (r.signKey) vars.push({ name: V.SIGN_KEY, type: 'BLOB', value: r.signKey });
  if (r.hashAlgId !== undefined) vars.push({ name: V.HASH_ALG_ID, type: 'ULONG', value: r.hashAlgId });
  if (r.hmacAlgId !== undefined) vars.push({ name: V.HMAC_ALG_ID, type: 'ULONG', value: r.hmacAlgId });
  if (r.secMode !== undefined) vars.push({ name: V.SEC_MODE, type: 'ULONG', value: r.secMode });
  if (r.userSid) vars.push({ name: V.USER_SID, type: 'BLOB', value: r.userSid });
  return encodeWdsc({ endpoint: MSI_ENDPOINT, packetType: PacketType.REPLY, code: 0, variables: vars });
}

/** Server side: a reply whose OpCode-ErrorCode carries a Win32 error (MS-WDSC 3.1.4.2), no variables. */
export function encodeInitiateError(win32: number): Buffer {
  return encodeWdsc({ endpoint: MSI_ENDPOINT, packetType: PacketType.REPLY, code: win32, variables: [] });
}

function ip(p: WdscPacket, name: string): Lookup<string> {
  const b = blob(p, name);
  if (b === undefined) return { code: 'missing-option', message: `missing ${name}` };
  if (isProblem(b)) return b;
  return bytesToIp(b) ?? { code: 'bad-length', message: `${name} has ${b.length} bytes, expected 4 or 16` };
}

/**
 * Client side: the reply packet of a WdsRpcMessage that returned ERROR_SUCCESS. A non-zero OpCode-ErrorCode is a
 * typed error ({kind: 'error', source: 'reply'}); Packet-Type is not checked (MS-WDSC note <1>).
 */
function decodeInitiateReply(buf: Buffer): Decoded<InitiateResult> {
  const d = decodeWdsc(buf);
  if (!d.ok) return d;
  const p = d.value;
  const e = checkOperation(p);
  if (!e.ok) return e;
  if (p.code !== 0) return ok({ kind: 'error', source: 'reply', win32: p.code, name: win32Name(p.code) });
  const f = {
    multicastPort: need(num(p, V.MC_PORT, 0xffff), V.MC_PORT),
    serverPort: need(num(p, V.UNI_PORT, 0xffff), V.UNI_PORT),
    sessionId: need(num(p, V.SESSION_ID, 0xffffffff), V.SESSION_ID),
    contentSize: need(num(p, V.CONTENT_SIZE), V.CONTENT_SIZE),
    blockSize: need(num(p, V.BLOCK_SIZE, 0xffffffff), V.BLOCK_SIZE),
    totalBlocks: need(num(p, V.TOTAL_BLOCKS), V.TOTAL_BLOCKS),
  };
  const opt = {
    secMode: num(p, V.SEC_MODE, 0xffffffff),
    hashAlgId: num(p, V.HASH_ALG_ID, 0xffffffff),
    hmacAlgId: num(p, V.HMAC_ALG_ID, 0xffffffff),
    symKey: blob(p, V.SYM_KEY, 'HashKey'),
    signKey: blob(p, V.SIGN_KEY),
    userSid: blob(p, V.USER_SID),
    contentMetadata: blob(p, V.CONTENT_METADATA),
  };
  const multicastAddr = ip(p, V.MC_ADDR);
  const serverAddr = ip(p, V.UNI_ADDR);
  for (const x of [...Object.values(f), ...Object.values(opt), multicastAddr, serverAddr]) if (x !== undefined && isProblem(x)) return fail(x.code, x.message);
  const n = f as Record<keyof typeof f, number>;
  // The same rule as over UDP (protocol-notes #18).
  if (n.blockSize === 0) return fail('bad-value', 'BlockSize is zero');
  if (n.blockSize > MAX_BLOCK_SIZE) return fail('bad-value', `BlockSize ${n.blockSize} is more than one MS-WDSMA DATA packet carries (${MAX_BLOCK_SIZE})`);
  // As over UDP (protocol-notes #108): port 0 names no UDP port.
  if (n.multicastPort === 0) return fail('bad-value', `${V.MC_PORT} is zero`);
  if (n.serverPort === 0) return fail('bad-value', `${V.UNI_PORT} is zero`);
  if (n.totalBlocks !== Math.ceil(n.contentSize / n.blockSize))
    return fail('bad-value', `TotalBlocks ${n.totalBlocks} disagrees with ContentSize ${n.contentSize} / BlockSize ${n.blockSize}`);
  const reply: InitiateReply = {
    kind: 'reply',
    multicastAddr: multicastAddr as string,
    serverAddr: serverAddr as string,
    ...n,
    contentMetadata: (opt.contentMetadata as Buffer | undefined) ?? Buffer.alloc(0),
  };
  for (const k of ['secMode', 'hashAlgId', 'hmacAlgId'] as const) if (opt[k] !== undefined) reply[k] = opt[k] as number;
  for (const k of ['symKey', 'signKey', 'userSid'] as const) if (opt[k] !== undefined) reply[k] = opt[k] as Buffer;
  return ok(reply);
}

/**
 * Client side: the outcome of one WdsRpcMessage call. A non-zero return value is the error (MS-WDSC 3.1.4.2: no
 * reply is read); otherwise the reply packet is decoded, and its OpCode-ErrorCode may carry the error instead.
 */
export function decodeInitiateResult(status: number, reply: Buffer | undefined): Decoded<InitiateResult> {
  if (status !== 0) return ok({ kind: 'error', source: 'status', win32: status >>> 0, name: win32Name(status >>> 0) });
  if (!reply || reply.length === 0) return fail('truncated', 'WdsRpcMessage returned ERROR_SUCCESS with no reply packet');
  return decodeInitiateReply(reply);
}
