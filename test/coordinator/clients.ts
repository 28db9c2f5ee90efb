/**
 * The Client List of MS-WDSMT 3.1.1.2: one record per client, on the Pending, Active, Kick or Demoted list (one map; the
 * record's `list` says which), ClientId allocation, and the queries the other parts ask (active clients, their
 * highest RTT, the list gauges in the stats). Which packet moves a client between lists is mt-server.ts.
 */
import type { SecMode } from '../../core/codec/mt';
import { ClientListName, CoordinatorStats, LowerSession } from './types';

/** The Client List record of MS-WDSMT 3.1.1.2 (plus a few fields kept for stats). */
export interface Client {
  clientId: number;
  address: string;
  port: number;
  name: string;
  clientTime: number;
  lastUpdate: number;
  rtt: number;
  supportsDemote: boolean;
  kickReason: number;
  /** On the Demoted list: the lower session it was told to join (3.1.5.10). */
  demotedTo?: LowerSession;
  joinAckSendCount: number;
  qcrReceived: boolean;
  list: ClientListName;
  joinedAt: number;
  /** The client security mode its JOIN carried: CHECKSUM for a pre-OS client, else the session's (security.ts). */
  secMode: SecMode;
  progress?: number; // last Status trigger (PROGRESS in QCR AppData)
  timeInSession?: number;
  lossRate: number;
}

export interface ClientSummary {
  clientId: number;
  address: string;
  port: number;
  state: string;
  name: string;
  rtt: number;
  progress?: number;
  master: boolean;
  /** It advertised WDSMCTP_CAP_MULTISTREAM in its JOIN (SupportsDemote, 3.1.5.2.1). */
  supportsDemote: boolean;
  /** Its last reported LossRate, 0..1 (from its QCR, ACK or NACK). */
  lossRate: number;
}

export class ClientList {
  private readonly map = new Map<number, Client>();
  private nextClientId: number;

  constructor(
    private readonly stats: CoordinatorStats,
    rng: () => number,
    /** Told the server modes the listed clients use, whenever a client is added or removed. */
    private readonly onModes: (serverModes: SecMode[]) => void = () => undefined,
    private readonly serverModeFor: (clientMode: SecMode) => SecMode = (m) => m,
  ) {
    this.nextClientId = Math.floor(rng() * 0x1_0000_0000) >>> 0 || 1;
  }

  get(clientId: number): Client | undefined {
    return this.map.get(clientId);
  }

  /** Every client, in the order they joined. */
  all(): IterableIterator<Client> {
    return this.map.values();
  }

  /** A fresh ClientId: never 0, never one in use. */
  allocId(): number {
    for (;;) {
      const id = this.nextClientId >>> 0;
      this.nextClientId = (this.nextClientId + 1) >>> 0;
      if (id !== 0 && !this.map.has(id)) return id;
    }
  }

  add(c: Client): void {
    this.map.set(c.clientId, c);
    this.updateGauges();
  }

  remove(c: Client): void {
    this.map.delete(c.clientId);
    this.updateGauges();
  }

  clear(): void {
    this.map.clear();
    this.updateGauges();
  }

  active(): Client[] {
    const out: Client[] = [];
    for (const c of this.map.values()) if (c.list === 'active') out.push(c);
    return out;
  }

  activeCount(): number {
    let n = 0;
    for (const c of this.map.values()) if (c.list === 'active') n++;
    return n;
  }

  anyOn(list: ClientListName): boolean {
    for (const c of this.map.values()) if (c.list === list) return true;
    return false;
  }

  summary(masterId: number): ClientSummary[] {
    return [...this.map.values()].map((c) => ({
      clientId: c.clientId,
      address: c.address,
      port: c.port,
      state: c.list,
      name: c.name,
      rtt: c.rtt,
      progress: c.progress,
      master: c.clientId === masterId,
      supportsDemote: c.supportsDemote,
      lossRate: c.lossRate,
    }));
  }

  /** Recounts the clients* gauges; call after a client changes list. */
  updateGauges(): void {
    let a = 0;
    let p = 0;
    let k = 0;
    let d = 0;
    for (const c of this.map.values()) {
      if (c.list === 'active') a++;
      else if (c.list === 'pending') p++;
      else if (c.list === 'kick') k++;
      else d++;
    }
    const modes = new Set<SecMode>();
    for (const c of this.map.values()) modes.add(this.serverModeFor(c.secMode));
    this.onModes([...modes]);
    this.stats.clientsActive = a;
    this.stats.clientsPending = p;
    this.stats.clientsKick = k;
    this.stats.clientsDemote = d;
  }
}

/** What a client last reported of itself (PROGRESS in a QCR, or a CNTCIR): kept for stats. */
export function noteProgress(c: Client, m: { progress: number; timeInSession: number }): void {
  c.progress = Math.min(100, m.progress);
  c.timeInSession = m.timeInSession;
}

export function maxRtt(list: Client[]): number {
  let m = 0;
  for (const c of list) if (c.rtt > m) m = c.rtt;
  return m;
}
