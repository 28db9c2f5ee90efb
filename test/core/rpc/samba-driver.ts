/**
 * Runs inside the test's network namespace (ip netns exec … node <bundle>): asks Samba's endpoint mapper for
 * srvsvc, binds to the port it names with no authentication, calls NetrServerGetInfo level 101 and prints one
 * JSON line with what each step returned. argv: host.
 */
import { EPM_INTERFACE, EPT_MAP_OPNUM, decodeEptMapResponse, encodeEptMapRequest } from '../../../core/rpc/epm';
import { RpcEvent } from '../../../core/rpc/client';
import { connect } from './drive';
import { NETR_SERVER_GET_INFO, SRVSVC, decodeNetrServerGetInfo101, encodeNetrServerGetInfo } from './srvsvc';

const isResponse = (id: number) => (e: RpcEvent) => (e.type === 'response' || e.type === 'fault' || e.type === 'error') && 'callId' in e && e.callId === id;

async function main(): Promise<void> {
  const host = process.argv[2]!;
  const out: Record<string, unknown> = {};
  const epm = await connect(host, 135, { abstractSyntax: EPM_INTERFACE, timeoutMs: 5000 });
  out.epmBound = await epm.next((e) => e.type === 'bound');
  const mapAnswer = await epm.next(isResponse(epm.call(EPT_MAP_OPNUM, encodeEptMapRequest(SRVSVC))));
  epm.close();
  if (mapAnswer.type !== 'response') throw new Error(`ept_map: ${JSON.stringify(mapAnswer)}`);
  const map = decodeEptMapResponse(mapAnswer.stub);
  if (!map.ok) throw new Error(`ept_map answer: ${map.error.toString()}`);
  out.eptMap = map.value;
  const port = map.value.endpoints[0]?.port;
  if (!port) throw new Error('ept_map named no TCP port');

  const srv = await connect(host, port, { abstractSyntax: SRVSVC, timeoutMs: 5000 });
  out.srvsvcBound = await srv.next((e) => e.type === 'bound');
  const info = await srv.next(isResponse(srv.call(NETR_SERVER_GET_INFO, encodeNetrServerGetInfo(`\\\\${host}`, 101))));
  if (info.type !== 'response') throw new Error(`NetrServerGetInfo: ${JSON.stringify(info)}`);
  out.serverInfo = decodeNetrServerGetInfo101(info.stub);
  // A call the interface does not have: the fault must come back named.
  const bad = await srv.next(isResponse(srv.call(200, Buffer.alloc(0))));
  out.badOpnum = bad;
  srv.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
