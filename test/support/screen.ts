/**
 * A tiny terminal for tests: what a screen shows after a byte stream of text, CR, LF, backspace and the erase-line
 * sequences (ESC [ K, ESC [ 1 K, ESC [ 2 K). Any other escape sequence is dropped. LF starts the next line at
 * column 0, as a terminal's default output processing (onlcr) makes it. Lines do not wrap (the agent cuts its
 * progress line to the width itself). The result is the screen's lines, trailing blanks trimmed.
 */
export function renderScreen(stream: string): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  for (let i = 0; i < stream.length; i++) {
    const ch = stream[i]!;
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      if (!lines[row]) lines[row] = [];
    } else if (ch === '\b') col = Math.max(0, col - 1);
    else if (ch === '\x1b') {
      const m = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(stream.slice(i, i + 16));
      if (!m) continue;
      i += m[0].length - 1;
      if (m[2] === 'K') {
        const line = lines[row]!;
        if (m[1] === '2') lines[row] = [];
        else if (m[1] === '1') for (let c = 0; c <= col && c < line.length; c++) line[c] = ' ';
        else line.length = Math.min(line.length, col);
      }
    } else {
      const line = lines[row]!;
      while (line.length < col) line.push(' ');
      line[col++] = ch;
    }
  }
  return lines.map((l) => l.join('').trimEnd());
}
