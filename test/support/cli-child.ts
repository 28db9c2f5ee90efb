/**
 * For the CLI tests: the bundled coordinator as a child process, its first stdout line (the ready JSON) parsed,
 * its stderr collected, its exit code awaited. The caller ends it (by this child's PID, via child.kill).
 */
import { ChildProcess, spawn } from 'node:child_process';

export interface CoordinatorChild<Ready> {
  child: ChildProcess;
  ready: Promise<Ready>;
  exited: Promise<number | null>;
  stderr(): string;
}

export function spawnCoordinator<Ready>(bundle: string, args: string[], env: NodeJS.ProcessEnv = process.env): CoordinatorChild<Ready> {
  const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<Ready>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as Ready);
    });
    child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
  });
  return { child, ready, exited, stderr: () => stderr };
}
