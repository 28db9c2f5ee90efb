/**
 * MS-WDSMSI 2.2.2: session initiation over UDP (port 5041).
 * Packet: OpCode(1) OptionsCount(2) { OptionId(2) OptionLength(2) OptionValue }*
 */
import { Decoded, Reader, Writer, fail, guard, ok, readUintBE, readWstring, wstring } from './bytes';
import { MAX_BLOCK_SIZE } from './ma';

export const MSI_PORT = 5041;

export const MsiOp = {
  REQUEST: 0x01,
  REPLY: 0x02,
} as const;

export const MsiOpt = {
  IPV6_CAPABLE: 0x010d,
  MULTICAST_PORT: 0x0205,
  SERVER_PORT: 0x0206,
  BLOCK_SIZE: 0x0309,
  SESSION_ID: 0x030a,
  ERROR: 0x030b,
  CONTENT_SIZE: 0x0407,
  TOTAL_BLOCKS: 0x0408,
  MULTICAST_ADDR: 0x0503,
  SERVER_ADDR: 0x0504,
  MAC_ADDRESS: 0x050c,
  NAMESPACE: 0x0601,
  CONTENT: 0x0602,
} as const;

export interface MsiOption {
  id: number;
  value: Buffer;
}

export interface MsiRequest {
  kind: 'request';
  namespace: string;
  content: string;
  mac: Uint8Array; // 6 bytes for Ethernet
  ipv6Capable?: boolean;
}

export interface MsiReply {
  kind: 'reply';
  multicastAddr: string; // dotted IPv4 or IPv6 text
  serverAddr: string;
  multicastPort: number;
  serverPort: number;
  contentSize: number;
  blockSize: number;
  totalBlocks: number;
  sessionId: number;
}

export interface MsiErrorReply {
  kind: 'error';
  opcode: number;
  win32: number;
}

export type MsiPacket = MsiRequest | MsiReply | MsiErrorReply;

/** Generic option-list layer: used by the typed encoders/decoders below. */
export function encodeMsiRaw(opcode: number, options: MsiOption[]): Buffer {
  const w = new Writer(64);
  w.u8(opcode).u16(options.length);
  for (const o of options) w.u16(o.id).u16(o.value.length).bytes(o.value);
  return w.finish();
}

export function decodeMsiRaw(buf: Buffer): Decoded<{ opcode: number; options: MsiOption[] }> {
  return guard('msi', () => {
    const r = new Reader(buf);
    const opcode = r.u8('OpCode');
    const count = r.u16('OptionsCount');
    const options: MsiOption[] = [];
    for (let i = 0; i < count; i++) {
      if (r.remaining < 4) return fail('bad-count', `OptionsCount ${count} but only ${i} options present`);
      const id = r.u16('OptionId');
      const len = r.u16('OptionLength');
      if (len > r.remaining) return fail('bad-length', `option 0x${id.toString(16)} length ${len} exceeds packet`);
      options.push({ id, value: r.bytes(len) });
    }
    if (r.remaining !== 0) return fail('trailing', `${r.remaining} bytes after the last option`);
    return ok({ opcode, options });
  });
}

function u(n: number, width: 1 | 2 | 4 | 8): Buffer {
  const w = new Writer(8);
  if (width === 1) w.u8(n);
  else if (width === 2) w.u16(n);
  else if (width === 4) w.u32(n);
  else w.u64(n);
  return w.finish();
}

export function ipToBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    // IPv6: expand "::"
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const fill = tail !== undefined ? 8 - h.length - t.length : 0;
    const parts = [...h, ...Array(fill).fill('0'), ...t];
    const b = Buffer.alloc(16);
    parts.forEach((p, i) => b.writeUInt16BE(parseInt(p || '0', 16), i * 2));
    return b;
  }
  return Buffer.from(ip.split('.').map((x) => Number(x) & 0xff));
}

export function bytesToIp(b: Uint8Array): string | undefined {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    return parts.join(':');
  }
  return undefined;
}

export function encodeMsiRequest(req: Omit<MsiRequest, 'kind'>): Buffer {
  const opts: MsiOption[] = [
    { id: MsiOpt.NAMESPACE, value: wstring(req.namespace) },
    { id: MsiOpt.CONTENT, value: wstring(req.content) },
    { id: MsiOpt.MAC_ADDRESS, value: Buffer.from(req.mac) },
  ];
  if (req.ipv6Capable !== undefined) opts.push({ id: MsiOpt.IPV6_CAPABLE, value: u(req.ipv6Capable ? 1 : 0, 1) });
  return encodeMsiRaw(MsiOp.REQUEST, opts);
}

export function encodeMsiReply(rep: Omit<MsiReply, 'kind'>): Buffer {
  return encodeMsiRaw(MsiOp.REPLY, [
    { id: MsiOpt.MULTICAST_ADDR, value: ipToBytes(rep.multicastAddr) },
    { id: MsiOpt.SERVER_ADDR, value: ipToBytes(rep.serverAddr) },
    { id: MsiOpt.MULTICAST_PORT, value: u(rep.multicastPort, 2) },
    { id: MsiOpt.SERVER_PORT, value: u(rep.serverPort, 2) },
    { id: MsiOpt.CONTENT_SIZE, value: u(rep.contentSize, 8) },
    { id: MsiOpt.BLOCK_SIZE, value: u(rep.blockSize, 4) },
    { id: MsiOpt.TOTAL_BLOCKS, value: u(rep.totalBlocks, 8) },
    { id: MsiOpt.SESSION_ID, value: u(rep.sessionId, 4) },
  ]);
}

/**
 * The error packet (2.2.2.3) has no opcode of its own: 2.2.2.2 says the server "sends the reply packet as
 * specified in 2.2.2.3", so we send opcode REPLY carrying only WDSMCSE_OPT_ERROR. On receive, any opcode
 * carrying an ERROR option is an error reply (see docs/protocol-notes.md).
 */
export function encodeMsiError(win32: number, opcode: number = MsiOp.REPLY): Buffer {
  return encodeMsiRaw(opcode, [{ id: MsiOpt.ERROR, value: u(win32, 4) }]);
}

/**
 * A numeric option: any width 1..8 (the spec fixes one; a server may use the WDSC ULONG width), but the value must
 * fit the field it fills (`max`: 0xffff for a port, 0xffffffff for a ULONG field, 2^53 - 1 for a u64 a double can
 * hold): a wider value would be cut or wrap where it is used, so it is bad-value (protocol-notes #13).
 */
function num(opts: Map<number, Buffer>, id: number, name: string, widths: number[], max = Number.MAX_SAFE_INTEGER): number | { code: 'missing-option' | 'bad-length' | 'bad-value'; message: string } {
  const v = opts.get(id);
  if (!v) return { code: 'missing-option', message: `missing ${name}` };
  if (v.length < 1 || v.length > 8) return { code: 'bad-length', message: `${name} has length ${v.length}, expected ${widths.join(' or ')}` };
  const n = readUintBE(v);
  if (n > max) return { code: 'bad-value', message: `${name} ${n > Number.MAX_SAFE_INTEGER ? 'exceeds 2^53' : `${n} exceeds ${max}`}` };
  return n;
}

export function decodeMsi(buf: Buffer): Decoded<MsiPacket> {
  const raw = decodeMsiRaw(buf);
  if (!raw.ok) return raw;
  const { opcode, options } = raw.value;
  const m = new Map<number, Buffer>();
  for (const o of options) if (!m.has(o.id)) m.set(o.id, o.value);
  const err = m.get(MsiOpt.ERROR);
  if (err) {
    if (err.length < 1 || err.length > 8) return fail('bad-length', `ERROR option length ${err.length}`);
    const win32 = readUintBE(err);
    if (win32 > 0xffffffff) return fail('bad-value', `ERROR ${win32 > Number.MAX_SAFE_INTEGER ? 'exceeds 2^53' : win32} does not fit a Win32 error code (32 bits)`);
    return ok({ kind: 'error', opcode, win32 });
  }
  if (opcode === MsiOp.REQUEST) {
    const ns = m.get(MsiOpt.NAMESPACE);
    const ct = m.get(MsiOpt.CONTENT);
    const mac = m.get(MsiOpt.MAC_ADDRESS);
    if (!ns) return fail('missing-option', 'request without NAMESPACE (0x0601)');
    if (!ct) return fail('missing-option', 'request without CONTENT (0x0602)');
    if (!mac) return fail('missing-option', 'request without MAC_ADDRESS (0x050C)');
    const v6 = m.get(MsiOpt.IPV6_CAPABLE);
    const req: MsiRequest = { kind: 'request', namespace: readWstring(ns), content: readWstring(ct), mac: Buffer.from(mac) };
    if (v6 && v6.length >= 1) req.ipv6Capable = readUintBE(v6) === 1;
    return ok(req);
  }
  if (opcode === MsiOp.REPLY) {
    const fields = {
      multicastPort: num(m, MsiOpt.MULTICAST_PORT, 'MULTICAST_PORT (0x0205)', [2], 0xffff),
      serverPort: num(m, MsiOpt.SERVER_PORT, 'SERVER_PORT (0x0206)', [2], 0xffff),
      contentSize: num(m, MsiOpt.CONTENT_SIZE, 'CONTENT_SIZE (0x0407)', [8]),
      blockSize: num(m, MsiOpt.BLOCK_SIZE, 'BLOCK_SIZE (0x0309)', [4], 0xffffffff),
      totalBlocks: num(m, MsiOpt.TOTAL_BLOCKS, 'TOTAL_BLOCKS (0x0408)', [8]),
      sessionId: num(m, MsiOpt.SESSION_ID, 'SESSION_ID (0x030A)', [4], 0xffffffff),
    };
    for (const v of Object.values(fields)) if (typeof v !== 'number') return fail(v.code, v.message);
    const ma = m.get(MsiOpt.MULTICAST_ADDR);
    const sa = m.get(MsiOpt.SERVER_ADDR);
    if (!ma) return fail('missing-option', 'reply without MULTICAST_ADDR (0x0503)');
    if (!sa) return fail('missing-option', 'reply without SERVER_ADDR (0x0504)');
    const multicastAddr = bytesToIp(ma);
    const serverAddr = bytesToIp(sa);
    if (!multicastAddr) return fail('bad-length', `MULTICAST_ADDR length ${ma.length}, expected 4 or 16`);
    if (!serverAddr) return fail('bad-length', `SERVER_ADDR length ${sa.length}, expected 4 or 16`);
    const f = fields as Record<keyof typeof fields, number>;
    if (f.blockSize === 0) return fail('bad-value', 'BLOCK_SIZE is zero');
    if (f.blockSize > MAX_BLOCK_SIZE) return fail('bad-value', `BLOCK_SIZE ${f.blockSize} is more than one MS-WDSMA DATA packet carries (${MAX_BLOCK_SIZE})`);
    // Port 0 names no UDP port: nothing can be sent to it or joined on it (protocol-notes #108).
    if (f.multicastPort === 0) return fail('bad-value', 'MULTICAST_PORT is zero');
    if (f.serverPort === 0) return fail('bad-value', 'SERVER_PORT is zero');
    if (f.totalBlocks !== Math.ceil(f.contentSize / f.blockSize))
      return fail('bad-value', `TOTAL_BLOCKS ${f.totalBlocks} disagrees with CONTENT_SIZE ${f.contentSize} / BLOCK_SIZE ${f.blockSize}`);
    return ok({ kind: 'reply', multicastAddr, serverAddr, ...f });
  }
  return fail('unknown-opcode', `MSI opcode 0x${opcode.toString(16)}`);
}

/** Win32 error codes a WDS server is likely to return, with their symbolic names (MS-ERREF 2.2). */
export const WIN32_ERRORS: Record<number, string> = {
  2: 'ERROR_FILE_NOT_FOUND',
  3: 'ERROR_PATH_NOT_FOUND',
  5: 'ERROR_ACCESS_DENIED',
  6: 'ERROR_INVALID_HANDLE',
  8: 'ERROR_NOT_ENOUGH_MEMORY',
  13: 'ERROR_INVALID_DATA',
  14: 'ERROR_OUTOFMEMORY',
  21: 'ERROR_NOT_READY',
  50: 'ERROR_NOT_SUPPORTED',
  87: 'ERROR_INVALID_PARAMETER',
  120: 'ERROR_CALL_NOT_IMPLEMENTED',
  122: 'ERROR_INSUFFICIENT_BUFFER',
  1062: 'ERROR_SERVICE_NOT_ACTIVE',
  1168: 'ERROR_NOT_FOUND',
  1326: 'ERROR_LOGON_FAILURE',
  1460: 'ERROR_TIMEOUT',
  1722: 'RPC_S_SERVER_UNAVAILABLE',
  1753: 'EPT_S_NOT_REGISTERED',
  1783: 'RPC_X_BAD_STUB_DATA',
  0x0000139f: 'ERROR_INVALID_STATE',
};

export function win32Name(code: number): string {
  const name = WIN32_ERRORS[code] ?? (code > 0xffff ? `HRESULT 0x${code.toString(16).padStart(8, '0')}` : 'unknown Win32 error');
  return `${name} (${code})`;
}
