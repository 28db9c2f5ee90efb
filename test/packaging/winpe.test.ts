/**
 * winpe/ cannot be run here (no PowerShell, no WinPE). These checks catch the mistakes a reader is most likely
 * to miss: unbalanced brackets or quotes in the .ps1, non-ASCII characters, a missing discard-on-failure, and
 * commands in the startnet snippet that WinPE does not have.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';

const WINPE = path.resolve(__dirname, '../../winpe');
const ps1 = fs.readFileSync(path.join(WINPE, 'Add-OsdcastToBootImage.ps1'), 'utf8');
const snippet = fs.readFileSync(path.join(WINPE, 'startnet-snippet.cmd'), 'utf8');
const readme = fs.readFileSync(path.join(WINPE, 'README.md'), 'utf8');

/**
 * Removes PowerShell comments and string literals (enough of the grammar for this script: <# #> blocks, # line
 * comments, '...' with '' escapes, "..." with backtick escapes; no here-strings) and returns the code that is
 * left. Throws on an unterminated string or block comment.
 */
function stripPowerShell(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '<' && src[i + 1] === '#') {
      const end = src.indexOf('#>', i + 2);
      if (end < 0) throw new Error(`unterminated block comment at ${i}`);
      i = end + 2;
    } else if (c === '#') {
      const end = src.indexOf('\n', i);
      i = end < 0 ? src.length : end;
    } else if (c === "'") {
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new Error(`unterminated '...' string at line ${src.slice(0, i).split('\n').length}`);
        if (src[j] === "'" && src[j + 1] === "'") j += 2;
        else if (src[j] === "'") break;
        else j++;
      }
      out += "''";
      i = j + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new Error(`unterminated "..." string at line ${src.slice(0, i).split('\n').length}`);
        if (src[j] === '`') j += 2;
        else if (src[j] === '"') break;
        else j++;
      }
      out += '""';
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function checkBalanced(code: string): void {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: { ch: string; line: number }[] = [];
  let line = 1;
  for (const ch of code) {
    if (ch === '\n') line++;
    if (ch === '(' || ch === '[' || ch === '{') stack.push({ ch, line });
    else if (ch in pairs) {
      const top = stack.pop();
      if (!top || top.ch !== pairs[ch]) throw new Error(`unbalanced ${ch} at line ${line}`);
    }
  }
  if (stack.length) throw new Error(`unclosed ${stack[stack.length - 1]!.ch} from line ${stack[stack.length - 1]!.line}`);
}

describe('Add-OsdcastToBootImage.ps1 (static checks only)', () => {
  it('is ASCII with balanced brackets and terminated strings', () => {
    expect(/^[\x09\x0a\x0d\x20-\x7e]*$/.test(ps1)).toBe(true);
    checkBalanced(stripPowerShell(ps1));
  });

  it('the checker itself catches the errors it looks for', () => {
    expect(() => checkBalanced(stripPowerShell('if ($a) { foo (1 }'))).toThrow(/unbalanced/);
    expect(() => checkBalanced(stripPowerShell('$x = @( 1, 2'))).toThrow(/unclosed \(/);
    expect(() => stripPowerShell('Write-Host "open')).toThrow(/unterminated/);
    expect(() => checkBalanced(stripPowerShell("Write-Host 'a ( b' # ) {\n$y = \"`\" {\"\n"))).not.toThrow();
  });

  it('uses no PowerShell 7-only syntax', () => {
    const code = stripPowerShell(ps1);
    expect(code).not.toMatch(/\?\?|&&|\|\||\?\s*[^\s]+\s*:/);
    expect(code).not.toMatch(/-Parallel\b/);
  });

  it('discards the mount on failure and commits only at the end', () => {
    expect(ps1).toMatch(/\[CmdletBinding\(SupportsShouldProcess = \$true\)\]/);
    expect(ps1).toContain("$ErrorActionPreference = 'Stop'");
    const tryAt = ps1.indexOf('Mount-WindowsImage -ImagePath $WimPath -Index $Index -Path $MountDir');
    const finallyAt = ps1.lastIndexOf('finally {');
    expect(tryAt).toBeGreaterThan(0);
    expect(ps1.indexOf('Dismount-WindowsImage -Path $MountDir -Save')).toBeGreaterThan(tryAt);
    expect(ps1.slice(finallyAt)).toContain('Dismount-WindowsImage -Path $MountDir -Discard');
    expect(ps1).toContain('0x8664');
    expect(ps1).toContain('winpeshl.ini');
  });
});

describe('startnet-snippet.cmd', () => {
  it('runs only wpeutil commands that exist, wrapped in removable markers', () => {
    const lines = snippet.split(/\r?\n/).filter((l) => l.trim() !== '');
    expect(lines[0]).toMatch(/osdcast begin/);
    expect(lines[lines.length - 1]).toMatch(/osdcast end/);
    const commands = lines.filter((l) => !/^@?rem\b/i.test(l.trim()));
    expect(commands).toEqual(['wpeutil WaitForNetwork', 'wpeutil UpdateBootInfo']);
    expect(snippet).toMatch(/^@rem wpeutil DisableFirewall$/m);
    expect(/^[\x09\x0a\x0d\x20-\x7e]*$/.test(snippet)).toBe(true);
  });
});

describe('winpe/README.md', () => {
  it('documents every exit code and the rmem_max setting', () => {
    for (const code of ['0', '2', '3', '4', '5', '6', '130']) expect(readme).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    expect(readme).toContain('net.core.rmem_max = 67108864');
    expect(readme).toContain('SMSTSDownloadProgram');
    expect(readme).toContain('SMSTSDownloadAbortCode');
    expect(readme).toContain('osdcast.exe receive --server cm01.corp.contoso.com --json');
    expect(readme).toMatch(/osdcast\.exe receive --server \S+ --namespace \S+ --content \S+ --out \S+ --json/);
  });
});
