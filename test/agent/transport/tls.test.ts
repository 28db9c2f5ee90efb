/** agent/transport/tls.ts: --ca loading and the keep-alive agents every HTTP client shares. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caPems, KeepAliveAgents, readCaFile, trustedCas } from '../../../agent/transport/tls';

const ROOT_PEM = tls.rootCertificates[0]!;

describe('CA loading', () => {
  it('keeps PEM text (a chain too) and converts one DER certificate to PEM', () => {
    const chain = `${ROOT_PEM}\n${tls.rootCertificates[1]}`;
    expect(caPems(Buffer.from(chain))).toEqual([chain]);
    const der = new X509Certificate(ROOT_PEM).raw;
    const [pem] = caPems(der);
    expect(new X509Certificate(pem!).fingerprint256).toBe(new X509Certificate(ROOT_PEM).fingerprint256);
    expect(() => caPems(Buffer.from('not a certificate'))).toThrow(/neither a PEM file nor a DER certificate/);
  });

  it('readCaFile: the bytes of a usable file; one-line reasons otherwise', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-ca-'));
    try {
      fs.writeFileSync(path.join(dir, 'ca.pem'), ROOT_PEM);
      fs.writeFileSync(path.join(dir, 'junk.bin'), 'junk');
      expect(readCaFile(path.join(dir, 'ca.pem')).toString()).toBe(ROOT_PEM);
      expect(() => readCaFile(path.join(dir, 'missing.pem'))).toThrow(/^no such file$/);
      expect(() => readCaFile(path.join(dir, 'junk.bin'))).toThrow(/neither a PEM file/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trusts the system roots plus --ca, or only the system roots without it', () => {
    expect(trustedCas(undefined)).toBeUndefined();
    const cas = trustedCas(Buffer.from(ROOT_PEM))!;
    expect(cas).toHaveLength(tls.rootCertificates.length + 1);
    expect(cas.slice(0, -1)).toEqual([...tls.rootCertificates]);
  });
});

describe('KeepAliveAgents', () => {
  it('picks the agent by scheme and verifies certificates unless --insecure', () => {
    const a = new KeepAliveAgents({}, 3);
    const b = new KeepAliveAgents({ insecure: true, ca: Buffer.from(ROOT_PEM) }, 2);
    try {
      expect(a.for(new URL('https://dp/x')).agent).toBe(a.https);
      expect(a.for(new URL('http://dp/x')).agent).toBe(a.http);
      expect(a.http.maxSockets).toBe(3);
      expect(a.https.options.rejectUnauthorized).toBe(true);
      expect(b.https.options.rejectUnauthorized).toBe(false);
      expect((b.https.options.ca as string[]).at(-1)).toBe(ROOT_PEM);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
