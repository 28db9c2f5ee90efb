/**
 * MS-WDSMT 3.2.1.3.1 Missing ODATA List, with exactly the four operations the spec defines.
 * Ranges are kept as parallel arrays of [start, end] (inclusive), sorted, non-overlapping, merged when adjacent.
 */
/**
 * Ranges the list holds at most. A split costs a splice over the ranges after it, so forged ODATA at alternate
 * sequence numbers under a forged high Lead once grew the list without bound at quadratic cost (0.2 ms per packet
 * at 400,000 ranges; found by an audit). A real receiver's list spans Trail..Lead of the server's window: at 1 %
 * loss it holds tens of ranges, at 30 % a few thousand.
 */
export const MAX_RANGES = 16_384;

export class MissingList {
  start = 0; // StartODATASeqNo
  end = 0; // EndODATASeqNo
  private s: number[] = [];
  private e: number[] = [];

  get length(): number {
    return this.s.length;
  }
  isEmpty(): boolean {
    return this.s.length === 0;
  }
  ranges(max = Infinity): [number, number][] {
    const n = Math.min(max, this.s.length);
    const out: [number, number][] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = [this.s[i]!, this.e[i]!];
    return out;
  }
  /** Number of sequence numbers currently missing. */
  count(): number {
    let c = 0;
    for (let i = 0; i < this.s.length; i++) c += this.e[i]! - this.s[i]! + 1;
    return c;
  }

  /** 3.2.1.3.1.1 Update Start of List (with #102: on the first one, Start itself stays to be received). */
  updateStart(newStart: number): void {
    if (newStart < this.start) return;
    let drop = 0;
    for (let i = 0; i < this.s.length; i++) {
      if (this.e[i]! < newStart) {
        drop++;
        continue;
      }
      if (newStart >= this.s[i]! && newStart <= this.e[i]!) this.s[i] = newStart;
      break; // newStart inside this range (updated) or below it: stop
    }
    if (drop > 0) {
      this.s.splice(0, drop);
      this.e.splice(0, drop);
    }
    this.start = newStart;
    // 3.2.1.3.1.1 says End becomes Start here. On the first Update Start (nothing tracked yet: End 0) that counts
    // Start itself as received though it never was: the Master Client then ACKs it and nobody NACKs it (only an
    // MS-WDSMA round repairs it). There End = Start - 1, so the next Update End lists Start as missing
    // (protocol-notes #102); later (a receiver left behind the server's trail) as the spec says.
    if (this.end < this.start) this.end = this.end === 0 ? this.start - 1 : this.start;
  }

  /** 3.2.1.3.1.2 Update End of List. */
  updateEnd(newEnd: number): void {
    if (newEnd < this.end) return;
    if (newEnd === this.end) return; // nothing new to track (the spec would add an empty range end+1..end)
    const n = this.s.length;
    // At MAX_RANGES the last range takes the new numbers too (what lies between is then listed though received).
    if (n > 0 && (this.e[n - 1] === this.end || n >= MAX_RANGES)) this.e[n - 1] = newEnd;
    else {
      this.s.push(this.end + 1);
      this.e.push(newEnd);
    }
    this.end = newEnd;
  }

  /** 3.2.1.3.1.3 Received ODATA Packet. */
  received(seq: number): void {
    // Binary search for the first range whose end >= seq (the spec iterates linearly; same result).
    let lo = 0;
    let hi = this.s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.e[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    if (i >= this.s.length) return;
    const s = this.s[i]!;
    const e = this.e[i]!;
    if (seq < s) return;
    if (s === e) {
      if (i === this.s.length - 1) {
        // The usual case in order: updateEnd just opened [seq, seq] at the end. pop() allocates nothing.
        this.s.pop();
        this.e.pop();
      } else {
        this.s.splice(i, 1);
        this.e.splice(i, 1);
      }
    } else if (seq === s) this.s[i] = s + 1;
    else if (seq === e) this.e[i] = e - 1;
    else if (this.s.length < MAX_RANGES) {
      this.e[i] = seq - 1;
      this.s.splice(i + 1, 0, seq + 1);
      this.e.splice(i + 1, 0, e);
    }
    // else: at MAX_RANGES the range is not split: `seq` stays listed (a NACK may fetch it again, a duplicate).
  }

  /** 3.2.1.3.1.4 Highest Continuous Received ODATASeqNo. */
  highestContinuous(): number {
    return this.s.length === 0 ? this.end : this.s[0]! - 1;
  }

  /** The highest missing sequence number (the end of the last range), or 0 when nothing is missing. */
  highestMissing(): number {
    const n = this.e.length;
    return n === 0 ? 0 : this.e[n - 1]!;
  }

  reset(): void {
    this.start = 0;
    this.end = 0;
    this.s = [];
    this.e = [];
  }
}
