/**
 * Runs inside the lab's `client` namespace: ept_map for srvsvc once, then one connection per scenario with the
 * NTLM providers of core/ntlm (auth type 9 = SPNEGO, 10 = raw NTLMSSP; a user and password, or anonymous) at
 * PKT_INTEGRITY or PKT_PRIVACY → NetrServerGetInfo 101. Prints one JSON line: per scenario the events the client
 * reported, the server info when a response came, and how the connection ended.
 * argv: host, scenario file (JSON: { password?: string, scenarios: Scenario[] }; the password comes from this file,
 * mode 0600 in the test's temp dir, never from the command line).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EPM_INTERFACE, EPT_MAP_OPNUM, decodeEptMapResponse, encodeEptMapRequest } from '../../../core/rpc/epm';
import { RpcEvent } from '../../../core/rpc/client';
import { AuthLevel, SecurityProvider } from '../../../core/rpc/security';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, SpnegoClientProvider } from '../../../core/ntlm/providers';
import { connect } from './drive';
import { NETR_SERVER_GET_INFO, SRVSVC, decodeNetrServerGetInfo101, encodeNetrServerGetInfo } from './srvsvc';

export interface Scenario {
  name: string;
  authType: 9 | 10;
  level: 5 | 6;
  /** Absent: anonymous NTLM. */
  user?: { domain: string; name: string; wrongPassword?: boolean };
  /** Number of NetrServerGetInfo calls on the connection (default 1; sequence numbers past 1). */
  calls?: number;
}

const isAnswer = (id: number) => (e: RpcEvent) => (e.type === 'response' || e.type === 'fault' || e.type === 'error') && 'callId' in e && e.callId === id;

function provider(s: Scenario, password: string): SecurityProvider {
  const opts = {
    clientChallenge: randomBytes(8),
    exportedSessionKey: randomBytes(16),
    nowMs: Date.now(),
    workstation: 'OSDCASTTEST',
    ...(s.user ? { credentials: new Credentials({ domain: s.user.domain, user: s.user.name, password: s.user.wrongPassword ? `${password}-wrong` : password }) } : {}),
  };
  return s.authType === 9 ? new SpnegoClientProvider(opts) : new NtlmClientProvider(opts);
}

async function runScenario(host: string, port: number, s: Scenario, password: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { name: s.name };
  const level = s.level === 6 ? AuthLevel.PKT_PRIVACY : AuthLevel.PKT_INTEGRITY;
  const srv = await connect(host, port, { abstractSyntax: SRVSVC, timeoutMs: 5000, security: { provider: provider(s, password), level } });
  const closed = new Promise<void>((res) => {
    const t = setInterval(() => {
      if (srv.events.some((e) => e.type === 'closed')) (clearInterval(t), res());
    }, 20);
  });
  try {
    await srv.next((e) => e.type === 'bound');
    const infos: unknown[] = [];
    for (let i = 0; i < (s.calls ?? 1); i++) {
      const a = await srv.next(isAnswer(srv.call(NETR_SERVER_GET_INFO, encodeNetrServerGetInfo(`\\\\${host}`, 101))));
      if (a.type !== 'response') break;
      infos.push(decodeNetrServerGetInfo101(a.stub));
    }
    out.serverInfo = infos;
    srv.close();
  } catch (e) {
    out.thrown = (e as Error).message;
  }
  // Let the close (ours or the server's) arrive so the events are complete.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  out.events = srv.events.map((e) => (e.type === 'response' ? { type: 'response', callId: e.callId, bytes: e.stub.length } : e));
  return out;
}

async function main(): Promise<void> {
  const host = process.argv[2]!;
  const cfg = JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as { password: string; scenarios: Scenario[] };
  const epm = await connect(host, 135, { abstractSyntax: EPM_INTERFACE, timeoutMs: 5000 });
  await epm.next((e) => e.type === 'bound');
  const mapAnswer = await epm.next(isAnswer(epm.call(EPT_MAP_OPNUM, encodeEptMapRequest(SRVSVC))));
  epm.close();
  if (mapAnswer.type !== 'response') throw new Error(`ept_map: ${JSON.stringify(mapAnswer)}`);
  const map = decodeEptMapResponse(mapAnswer.stub);
  if (!map.ok) throw new Error(`ept_map answer: ${map.error.toString()}`);
  const port = map.value.endpoints[0]?.port;
  if (!port) throw new Error('ept_map named no TCP port');
  const results: Record<string, unknown>[] = [];
  for (const s of cfg.scenarios) results.push(await runScenario(host, port, s, cfg.password));
  process.stdout.write(JSON.stringify({ port, results }) + '\n');
}

main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
