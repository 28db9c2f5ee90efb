/**
 * The endpoint mapper's ept_map (interface e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0, opnum 3; C706 appendix O,
 * MS-RPCE 2.2.1.2.5) for ncacn_ip_tcp: asks which TCP port serves an interface, with a protocol tower of five
 * floors (C706 appendix L): interface uuid + version, NDR 2.0, 0x0b RPC connection-oriented, 0x07 TCP port,
 * 0x09 IPv4 address.
 */
import { Decoded, fail, guard, ok } from '../codec/bytes';
import { LeReader, LeWriter, NDR_SYNTAX, SyntaxId } from './ndr';

export const EPM_INTERFACE: SyntaxId = { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', major: 3, minor: 0 };
export const EPT_MAP_OPNUM = 3;
/** MS-RPCE 2.2.1.2.5: "no elements that satisfy the specified search criteria" (ept_s_not_registered). */
export const EPT_S_NOT_REGISTERED = 0x16c9a0d6;

const FLOOR_UUID = 0x0d;
const FLOOR_RPC_CO = 0x0b;
const FLOOR_TCP = 0x07;
const FLOOR_IP = 0x09;

function uuidFloor(w: LeWriter, s: SyntaxId): void {
  w.u16le(19).u8(FLOOR_UUID).uuid(s.uuid).u16le(s.major);
  w.u16le(2).u16le(s.minor);
}

/** The tower_octet_string of an ncacn_ip_tcp binding (75 octets). Port and address are big-endian. */
export function encodeTcpTower(iface: SyntaxId, port = 0, address = '0.0.0.0'): Buffer {
  const w = new LeWriter(80);
  w.u16le(5);
  uuidFloor(w, iface);
  uuidFloor(w, NDR_SYNTAX);
  w.u16le(1).u8(FLOOR_RPC_CO).u16le(2).u16le(0);
  w.u16le(1).u8(FLOOR_TCP).u16le(2).u8(port >>> 8).u8(port);
  w.u16le(1).u8(FLOOR_IP).u16le(4).bytes(Buffer.from(address.split('.').map(Number)));
  return w.finish();
}

export interface TcpEndpoint {
  iface: SyntaxId;
  port: number;
  address: string;
}

/** Reads a tower; undefined (not an error) when it is not ncacn_ip_tcp, as another protocol's tower may be. */
function readTower(b: Buffer): TcpEndpoint | undefined {
  const r = new LeReader(b);
  const n = r.u16le('floor_count');
  let iface: SyntaxId | undefined;
  let port: number | undefined;
  let address = '';
  let co = false;
  for (let i = 0; i < n; i++) {
    const lhs = r.bytes(r.u16le('lhs_length'), 'lhs');
    const rhs = r.bytes(r.u16le('rhs_length'), 'rhs');
    if (lhs.length === 0) continue;
    if (i === 0 && lhs[0] === FLOOR_UUID && lhs.length === 19 && rhs.length >= 2) {
      const lr = new LeReader(lhs, 1);
      iface = { uuid: lr.uuid(), major: lr.u16le(), minor: rhs.readUInt16LE(0) };
    } else if (lhs[0] === FLOOR_RPC_CO) co = true;
    else if (lhs[0] === FLOOR_TCP && rhs.length === 2) port = rhs.readUInt16BE(0);
    else if (lhs[0] === FLOOR_IP && rhs.length === 4) address = [...rhs].join('.');
  }
  return iface && co && port !== undefined ? { iface, port, address } : undefined;
}

/** ept_map request stub: a nil object UUID, the tower asked about, a null entry_handle, max_towers. */
export function encodeEptMapRequest(iface: SyntaxId, maxTowers = 4): Buffer {
  const tower = encodeTcpTower(iface);
  const w = new LeWriter(160);
  w.u32le(1).bytes(Buffer.alloc(16)); // obj: unique pointer to the nil UUID
  w.u32le(2).u32le(tower.length).u32le(tower.length).bytes(tower).align(4); // map_tower: pointer, twr_t (conformant)
  w.bytes(Buffer.alloc(20)); // entry_handle: null context handle
  w.u32le(maxTowers);
  return w.finish();
}

export interface EptMapResult {
  /** 0, EPT_S_NOT_REGISTERED or a Win32 error (MS-RPCE 2.2.1.2.5). */
  status: number;
  /** The ncacn_ip_tcp towers returned, in order. */
  endpoints: TcpEndpoint[];
}

export function decodeEptMapResponse(stub: Buffer): Decoded<EptMapResult> {
  return guard('ept_map', () => {
    const r = new LeReader(stub);
    r.bytes(20, 'entry_handle');
    const numTowers = r.u32le('num_towers');
    r.count('ITowers max_count', 0);
    const offset = r.u32le('ITowers offset');
    const actual = r.count('ITowers actual_count', 4);
    if (offset !== 0) return fail('bad-value', `ITowers offset ${offset}`);
    if (actual !== numTowers) return fail('bad-count', `num_towers ${numTowers} but ${actual} towers`);
    const referents: number[] = [];
    for (let i = 0; i < actual; i++) referents.push(r.u32le('tower pointer'));
    const endpoints: TcpEndpoint[] = [];
    for (const ref of referents) {
      if (ref === 0) continue;
      const max = r.count('twr_t max_count');
      const len = r.u32le('tower_length');
      if (len !== max) return fail('bad-count', `tower_length ${len} but max_count ${max}`);
      const t = readTower(r.bytes(len, 'tower_octet_string'));
      r.align(4);
      if (t) endpoints.push(t);
    }
    const status = r.u32le('status');
    if (r.remaining) return fail('trailing', `${r.remaining} bytes after status`);
    return ok({ status, endpoints });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Server side (the coordinator's endpoint mapper): the request read, the answer built.
// ---------------------------------------------------------------------------------------------------------------

export interface EptMapRequest {
  /** The interface the tower asks about; undefined when the tower is not an ncacn_ip_tcp one. */
  iface: SyntaxId | undefined;
  maxTowers: number;
}

/** ept_map request stub: [in, ptr] obj, [in, ptr] map_tower, [in, out] entry_handle, [in] max_towers. */
export function decodeEptMapRequest(stub: Buffer): Decoded<EptMapRequest> {
  return guard('ept_map request', () => {
    const r = new LeReader(stub);
    if (r.u32le('obj pointer') !== 0) r.bytes(16, 'obj');
    let iface: SyntaxId | undefined;
    if (r.u32le('map_tower pointer') !== 0) {
      const max = r.count('twr_t max_count');
      const len = r.u32le('tower_length');
      if (len !== max) return fail('bad-count', `tower_length ${len} but max_count ${max}`);
      iface = readTower(r.bytes(len, 'tower_octet_string'))?.iface;
      r.align(4);
    }
    r.bytes(20, 'entry_handle');
    const maxTowers = r.u32le('max_towers');
    if (r.remaining) return fail('trailing', `${r.remaining} bytes after max_towers`);
    return ok({ iface, maxTowers });
  });
}

/**
 * ept_map response stub: a null entry_handle (no further lookups), num_towers, the conformant-varying array of
 * tower pointers (max_count = max_towers), each tower, then the status. `endpoints` beyond maxTowers are cut.
 */
export function encodeEptMapResponse(r: EptMapResult, maxTowers: number): Buffer {
  const towers = r.endpoints.slice(0, maxTowers).map((e) => encodeTcpTower(e.iface, e.port, e.address));
  const w = new LeWriter(64 + towers.length * 96);
  w.bytes(Buffer.alloc(20));
  w.u32le(towers.length).u32le(maxTowers).u32le(0).u32le(towers.length);
  towers.forEach((_, i) => w.u32le(3 + i)); // referent ids
  for (const t of towers) w.u32le(t.length).u32le(t.length).bytes(t).align(4);
  return w.u32le(r.status).finish();
}
