/**
 * Runs under Wine with the stock node.exe (bundled by sea.test.ts): exercises the Windows-only paths of
 * agent/tsenv (the real cscript + VBScript helper), agent/discovery (the real reg.exe) and agent/cmtrace
 * (rotation on a Windows file system), and writes what happened as JSON to the file named by argv[2].
 */
import * as fs from 'node:fs';
import pino from 'pino';
import { cmtraceDestination } from '../../../agent/log/cmtrace';
import { discoverServer } from '../../../agent/configmgr/discovery';
import { getTsVariables, setTsVariables } from '../../../agent/configmgr/tsenv';

const [outFile, logDir] = process.argv.slice(2) as [string, string];
const results: Record<string, unknown> = { platform: process.platform };
const tricky = 'quote " ümlaut € & %PATH% ;|<> !x! tab\tend';
const multiline = 'line 1\r\nline 2';
try {
  results.setDict = setTsVariables({ OSDCAST_A: tricky, OSDCAST_B: '', OSDCAST_C: multiline }, { progId: 'Scripting.Dictionary' });
  results.getDict = getTsVariables(['OSDCAST_A', '_SMSTSLogPath'], { progId: 'Scripting.Dictionary' });
  results.setReal = setTsVariables({ OSDCAST_A: 'x' });
  results.missingCscript = setTsVariables({ OSDCAST_A: 'x' }, { cscript: 'C:\\nowhere\\cscript.exe' });
  results.discovery = discoverServer({ env: {} });
  const dest = cmtraceDestination({ path: `${logDir}\\osdcast.log`, maxSize: 2048 });
  const log = pino({ level: 'info' }, dest);
  for (let i = 0; i < 100; i++) log.info({ i }, 'record');
  results.rotations = dest.rotations;
  results.failedWrites = dest.failedWrites;
  results.logFiles = fs.readdirSync(logDir).sort();
} catch (e) {
  results.exception = (e as Error).stack;
}
fs.writeFileSync(outFile, JSON.stringify(results, null, 2));
