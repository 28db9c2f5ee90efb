/**
 * Runs inside the lab's `client` namespace: ept_map for srvsvc once per server, then per scenario either
 *   - one connection with the NTLM providers of core/ntlm (auth type 9 = SPNEGO, 10 = raw NTLMSSP; a user and
 *     password, or anonymous) at PKT_INTEGRITY or PKT_PRIVACY → NetrServerGetInfo 101, or
 *   - the RpcConnector's plan (core/rpc/connect.ts) with NetrServerGetInfo 101 as its first call.
 * Prints one JSON line: per scenario the events, the server info when a response came, how it ended.
 * argv: scenario file (JSON: { password: string, scenarios: Scenario[] }; the password comes from this file,
 * mode 0600 in the test's temp dir, never from the command line).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EPM_INTERFACE, EPT_MAP_OPNUM, decodeEptMapResponse, encodeEptMapRequest } from '../../../core/rpc/epm';
import { RpcEvent } from '../../../core/rpc/client';
import { RpcConnector } from '../../../core/rpc/connect';
import { AuthLevel, SecurityProvider } from '../../../core/rpc/security';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, SpnegoClientProvider } from '../../../core/ntlm/providers';
import { connect, runConnector } from './drive';
import { NETR_SERVER_GET_INFO, SRVSVC, decodeNetrServerGetInfo101, encodeNetrServerGetInfo } from './srvsvc';

interface User {
  domain: string;
  name: string;
  wrongPassword?: boolean;
}

export type Scenario = ClientScenario | ConnectorScenario;

export interface ConnectorScenario {
  name: string;
  kind: 'connector';
  host: string;
  /** Absent: no credentials (anonymous, then level NONE). */
  user?: User;
}

interface ClientScenario {
  name: string;
  kind?: 'client';
  host: string;
  authType: 9 | 10;
  level: 5 | 6;
  /** Absent: anonymous NTLM. */
  user?: User;
  /** Number of NetrServerGetInfo calls on the connection (default 1; sequence numbers past 1). */
  calls?: number;
  /** Pads the ServerName argument to this many characters, so the sealed request spans several fragments. */
  serverNameLength?: number;
  /** Offered max_xmit_frag / max_recv_frag (default the client's). */
  frag?: number;
}

const isAnswer = (id: number) => (e: RpcEvent) => (e.type === 'response' || e.type === 'fault' || e.type === 'error') && 'callId' in e && e.callId === id;

function provider(authType: number, user: User | undefined, password: string): SecurityProvider {
  const opts = {
    clientChallenge: randomBytes(8),
    exportedSessionKey: randomBytes(16),
    nowMs: Date.now(),
    workstation: 'OSDCASTTEST',
    ...(user ? { credentials: new Credentials({ domain: user.domain, user: user.name, password: user.wrongPassword ? `${password}-wrong` : password }) } : {}),
  };
  return authType === 9 ? new SpnegoClientProvider(opts) : new NtlmClientProvider(opts);
}

async function runConnectorScenario(host: string, port: number, s: ConnectorScenario, password: string): Promise<Record<string, unknown>> {
  const connector = new RpcConnector({
    abstractSyntax: SRVSVC,
    hasCredentials: s.user !== undefined,
    provider: (a) => provider(a.authType, a.anonymous ? undefined : s.user, password),
    opnum: NETR_SERVER_GET_INFO,
    stub: encodeNetrServerGetInfo(`\\\\${host}`, 101),
    timeoutMs: 5000,
  });
  const events = await runConnector(host, port, connector);
  const out: Record<string, unknown> = { name: s.name };
  out.events = events.map((e) => {
    if (e.type !== 'done') return e;
    if (e.answer.type !== 'response') return { type: 'done', attempt: e.attempt, answer: e.answer };
    const stub = e.answer.stub;
    // `restrict anonymous = 2`: a response with a null ServerInfo101 and the WERROR at the end.
    const nullInfo = stub.length === 12 && stub.readUInt32LE(4) === 0;
    const info = nullInfo ? { werror: stub.readUInt32LE(8) } : { serverName: decodeNetrServerGetInfo101(stub).name };
    return { type: 'done', attempt: e.attempt, answer: 'response', ...info };
  });
  return out;
}

async function runScenario(host: string, port: number, s: ClientScenario, password: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { name: s.name };
  const level = s.level === 6 ? AuthLevel.PKT_PRIVACY : AuthLevel.PKT_INTEGRITY;
  const frag = s.frag ? { maxXmitFrag: s.frag, maxRecvFrag: s.frag } : {};
  const srv = await connect(host, port, { abstractSyntax: SRVSVC, timeoutMs: 5000, ...frag, security: { provider: provider(s.authType, s.user, password), level } });
  // Samba reads only the name's leading backslashes; the rest pads the request.
  const serverName = `\\\\${host}`.padEnd(s.serverNameLength ?? 0, 'x');
  const closed = new Promise<void>((res) => {
    const t = setInterval(() => {
      if (srv.events.some((e) => e.type === 'closed')) (clearInterval(t), res());
    }, 20);
  });
  try {
    await srv.next((e) => e.type === 'bound');
    const infos: unknown[] = [];
    for (let i = 0; i < (s.calls ?? 1); i++) {
      const stub = encodeNetrServerGetInfo(serverName, 101);
      out.requestStubBytes = stub.length;
      const a = await srv.next(isAnswer(srv.call(NETR_SERVER_GET_INFO, stub)));
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

async function srvsvcPort(host: string): Promise<number> {
  const epm = await connect(host, 135, { abstractSyntax: EPM_INTERFACE, timeoutMs: 5000 });
  await epm.next((e) => e.type === 'bound');
  const mapAnswer = await epm.next(isAnswer(epm.call(EPT_MAP_OPNUM, encodeEptMapRequest(SRVSVC))));
  epm.close();
  if (mapAnswer.type !== 'response') throw new Error(`ept_map: ${JSON.stringify(mapAnswer)}`);
  const map = decodeEptMapResponse(mapAnswer.stub);
  if (!map.ok) throw new Error(`ept_map answer: ${map.error.toString()}`);
  const port = map.value.endpoints[0]?.port;
  if (!port) throw new Error(`ept_map at ${host} named no TCP port`);
  return port;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { password: string; scenarios: Scenario[] };
  const ports = new Map<string, number>();
  for (const h of new Set(cfg.scenarios.map((s) => s.host))) ports.set(h, await srvsvcPort(h));
  const results: Record<string, unknown>[] = [];
  for (const s of cfg.scenarios) {
    const port = ports.get(s.host)!;
    results.push(s.kind === 'connector' ? await runConnectorScenario(s.host, port, s, cfg.password) : await runScenario(s.host, port, s, cfg.password));
  }
  process.stdout.write(JSON.stringify({ results }) + '\n');
}

main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
