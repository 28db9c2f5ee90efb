/**
 * Trust for HTTPS, one rule for every client (content downloads, WebDAV listing, --sha256-url): the system roots,
 * plus the operator's internal CA from --ca (a PEM file, which may hold a chain, or one DER certificate), or no
 * verification at all with --insecure; and the keep-alive agents built on it.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface Trust {
  /** Internal CA (PEM, may hold several certificates, or one DER certificate), trusted in addition to the system roots. */
  ca?: Buffer;
  /** Do not verify the server certificate (only when the operator asked for it). */
  insecure?: boolean;
}

/** Reads a --ca file; throws Error with a one-line reason ("no such file", or the system's message). */
export function readCaFile(file: string): Buffer {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  caPems(buf); // a file that is neither PEM nor a DER certificate is refused here, not at the first HTTPS request
  return buf;
}

/** The CA option as PEM text: PEM as is (may hold a chain), a DER certificate converted. Throws when it is neither. */
export function caPems(ca: Buffer): string[] {
  const text = ca.toString('latin1');
  if (text.includes('-----BEGIN')) return [text];
  try {
    return [new X509Certificate(ca).toString()];
  } catch (e) {
    throw new Error(`neither a PEM file nor a DER certificate (${(e as Error).message})`);
  }
}

/** The trusted roots for https.Agent's `ca`: undefined (system roots only) without --ca. */
export function trustedCas(ca: Buffer | undefined): string[] | undefined {
  return ca ? [...tls.rootCertificates, ...caPems(ca)] : undefined;
}

/** An http and an https keep-alive agent with at most maxSockets connections each, closed together. */
export class KeepAliveAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;

  constructor(trust: Trust, maxSockets: number) {
    this.http = new http.Agent({ keepAlive: true, maxSockets });
    this.https = new https.Agent({ keepAlive: true, maxSockets, ca: trustedCas(trust.ca), rejectUnauthorized: !trust.insecure });
  }

  /** The node module and agent for a URL's scheme (http: or https:). */
  for(u: URL): { mod: typeof http | typeof https; agent: http.Agent } {
    return u.protocol === 'https:' ? { mod: https, agent: this.https } : { mod: http, agent: this.http };
  }

  /** Closes idle keep-alive connections. */
  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
