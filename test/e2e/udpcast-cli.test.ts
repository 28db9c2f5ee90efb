/**
 * The --udpcast command line (issue 12 point 1): which flags the mode takes, which are usage errors (exit 2, one
 * line naming the flag), --portbase's range, --out - only with --udpcast, and --help saying where the --json report
 * goes with --out -. The receive itself is in test/lab/udpcast.test.ts (against a real udp-sender).
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runCli as run } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');


const U = ['receive', '--udpcast', '--interface', '127.0.0.1', '--out', '/tmp/osdcast-udpcast-cli-never-written'];
const W = ['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o'];

describe('osdcast receive --udpcast: the command line', () => {
  it('--help lists the udpcast flags, an example and where the --json report goes with --out -', async () => {
    expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
    const r = await run(['receive', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--udpcast', '--portbase <port>', '--rdv-address <address>', 'udpcast (FOG, Clonezilla):', '(default: 9000)', 'osdcast receive --udpcast --interface', 'to stderr as its last line', '20120424']) expect(r.stdout).toContain(s);
  });

  it.each([
    [[...U, '--namespace', 'n'], '--namespace is not used with --udpcast'],
    [[...U, '--content', 'c'], '--content is not used with --udpcast'],
    [[...U, '--server', '10.0.0.1'], '--server is not used with --udpcast'],
    [[...U, '--initiation', 'udp'], '--initiation is not used with --udpcast'],
    [[...U, '--rpc-port', '5040'], '--rpc-port is not used with --udpcast'],
    [[...U, '--user', 'CORP\\x'], '--user is not used with --udpcast'],
    [[...U, '--block-base', '0'], '--block-base is not used with --udpcast'],
    [[...U, '--http-only'], '--http-only is not used with --udpcast'],
    [[...U, '--pre-os'], '--pre-os is not used with --udpcast'],
    [[...U, '--min-rate', '5'], '--min-rate is not used with --udpcast'],
    [[...U, '--portbase', '9001'], '--portbase must be an even port 2..65534 (the sender uses the next one), got "9001"'],
    [[...U, '--portbase', '65536'], '--portbase must be an even port'],
    [[...U, '--portbase', '0'], '--portbase must be an even port'],
    [[...U, '--portbase', 'x'], '--portbase must be an even port'],
    [[...U, '--rdv-address', 'sender.example'], '--rdv-address must be an IPv4 address, got "sender.example"'],
    [['receive', '--udpcast', '--out', 'o'], '--udpcast needs --interface <local IPv4 address>'],
    [['receive', '--udpcast', '--interface', 'fe80::1', '--out', 'o'], '--interface must be an IPv4 address, got "fe80::1" (udpcast is IPv4 only)'],
    [['receive', '--udpcast', '--interface', '127.0.0.1'], "'--out <path>' not specified"],
    [[...W, '--portbase', '9002'], '--portbase needs --udpcast'],
    [[...W, '--rdv-address', '224.0.0.1'], '--rdv-address needs --udpcast'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', '-'], '--out - (the image to stdout) needs --udpcast'],
    [['receive', '--server', 'h', '--content', 'c', '--out', 'o'], "required option '--namespace <ns>' not specified"],
    [['receive', '--server', 'h', '--namespace', 'n', '--out', 'o'], "required option '--content <name>' not specified"],
  ])('usage error %j exits 2 with one line', async (args, msg) => {
    const r = await run(args as string[]);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(msg);
    expect(r.stdout).toBe('');
  });

  it('an --interface that is not this machine\'s is a usage error with the --json report (exit 2)', async () => {
    const r = await run(['receive', '--udpcast', '--interface', '192.0.2.77', '--out', '/tmp/osdcast-udpcast-cli-never-written', '--json', '--log-level', 'error']);
    expect(r.code, r.stderr).toBe(2);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!) as { errorKind: string; error: string; initiation: string };
    expect(rep.errorKind).toBe('usage');
    expect(rep.error).toContain('192.0.2.77 is not an address of this machine');
    expect(rep.initiation).toBe('udpcast');
    expect(fs.existsSync('/tmp/osdcast-udpcast-cli-never-written.partial')).toBe(false);
  });
});
