/**
 * Just enough of srvsvc (MS-SRVS) for the Samba interop test: NetrServerGetInfo (opnum 21) at level 101, written
 * from MS-SRVS 3.1.4.17 / 2.2.4.41 with the NDR helpers of core/rpc (test code: the client under test only moves
 * the stubs).
 */
import { LeReader, LeWriter, SyntaxId } from '../../../core/rpc/ndr';

export const SRVSVC: SyntaxId = { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0 };
export const NETR_SERVER_GET_INFO = 21;

/** [in, string, unique] SRVSVC_HANDLE ServerName, [in] DWORD Level. */
export function encodeNetrServerGetInfo(serverName: string, level: number): Buffer {
  const chars = Buffer.from(serverName + '\0', 'utf16le');
  const n = chars.length / 2;
  return new LeWriter(64).u32le(0x20000).u32le(n).u32le(0).u32le(n).bytes(chars).align(4).u32le(level).finish();
}

function readString(r: LeReader): string {
  r.u32le('max_count');
  r.u32le('offset');
  const n = r.u32le('actual_count');
  const s = r.bytes(n * 2, 'chars').toString('utf16le').replace(/\0+$/, '');
  r.align(4);
  return s;
}

export interface ServerInfo101 {
  platformId: number;
  name: string;
  versionMajor: number;
  versionMinor: number;
  type: number;
  comment: string;
  werror: number;
}

/** [out, switch_is(Level)] LPSERVER_INFO InfoStruct (level 101), then the WERROR. Throws on anything else. */
export function decodeNetrServerGetInfo101(stub: Buffer): ServerInfo101 {
  const r = new LeReader(stub);
  const level = r.u32le('switch');
  if (level !== 101) throw new Error(`union arm ${level}, not 101`);
  if (r.u32le('ServerInfo101 pointer') === 0) throw new Error('null ServerInfo101');
  const platformId = r.u32le();
  const nameRef = r.u32le();
  const versionMajor = r.u32le();
  const versionMinor = r.u32le();
  const type = r.u32le();
  const commentRef = r.u32le();
  const name = nameRef ? readString(r) : '';
  const comment = commentRef ? readString(r) : '';
  const werror = r.u32le('WERROR');
  if (r.remaining) throw new Error(`${r.remaining} bytes after the WERROR`);
  return { platformId, name, versionMajor, versionMinor, type, comment, werror };
}
