/**
 * Packaging stand-in for agent/cli.ts (which is written elsewhere). `node packaging/package.mjs --standin`
 * bundles this file instead of dist/osdcast.cjs so the single-binary pipeline can be built and tested before the
 * real CLI exists. It prints --version in the real CLI's format and pulls in what the binary must carry:
 * commander, pino (no transports) and the CMTrace destination. It is never shipped: its output goes to
 * .cache/standin/, not dist/.
 */
import { Command } from 'commander';
import pino from 'pino';
import { cmtraceDestination } from '../../agent/log/cmtrace';
import { VERSION, VERSION_LINE } from '../../agent/util/version';

function isSea(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

const program = new Command('osdcast')
  .description('osdcast packaging stand-in (not the real agent): checks that the single binary starts and runs its libraries')
  .version(VERSION_LINE, '-V, --version');

program
  .command('sea-info')
  .description('print facts about the running binary as JSON')
  .action(() => {
    process.stdout.write(
      JSON.stringify({ isSea: isSea(), execPath: process.execPath, platform: process.platform, arch: process.arch, node: process.version, version: VERSION }) + '\n',
    );
  });

program
  .command('log')
  .description('write two records to a CMTrace log file through pino')
  .argument('<file>', 'log file')
  .argument('<message>', 'text of the first record')
  .action((file: string, message: string) => {
    const log = pino({ level: 'debug' }, cmtraceDestination({ path: file }));
    log.info(message);
    log.warn({ n: 1 }, 'second record');
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`osdcast: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
