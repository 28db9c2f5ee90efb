/** agent/transport/validators.ts: ETag / Last-Modified pins, If-Range, Content-Range and Content-Length. */
import { describe, expect, it } from 'vitest';
import { conflict, confirms, contentLength, hasValidator, ifRangeValue, parseContentRange, validatorOf } from '../../../agent/transport/validators';

const LM = 'Wed, 21 Oct 2015 07:28:00 GMT';

describe('validators', () => {
  it('reads ETag and Last-Modified from headers, only those present', () => {
    expect(validatorOf({ etag: '"a"', 'last-modified': LM })).toEqual({ etag: '"a"', lastModified: LM });
    expect(validatorOf({})).toEqual({});
    expect(hasValidator(validatorOf({}))).toBe(false);
    expect(hasValidator({ lastModified: LM })).toBe(true);
    expect(hasValidator(undefined)).toBe(false);
  });

  it('If-Range: a strong ETag, else Last-Modified (never a weak ETag)', () => {
    expect(ifRangeValue({ etag: '"s"', lastModified: LM })).toBe('"s"');
    expect(ifRangeValue({ etag: 'W/"w"', lastModified: LM })).toBe(LM);
    expect(ifRangeValue({ etag: 'W/"w"' })).toBeUndefined();
    expect(ifRangeValue(undefined)).toBeUndefined();
  });

  it('a conflict is a validator both sides carry with different values', () => {
    expect(conflict({ etag: '"a"' }, { etag: '"b"' })).toBe('ETag "a" is now "b"');
    expect(conflict({ lastModified: LM }, { lastModified: 'x' })).toBe(`Last-Modified ${LM} is now x`);
    expect(conflict({ etag: '"a"' }, { lastModified: LM })).toBeUndefined();
    expect(confirms({ etag: '"a"' }, { etag: '"a"' })).toBe(true);
    expect(confirms({ etag: '"a"', lastModified: LM }, { etag: '"a"', lastModified: 'other' })).toBe(false);
    expect(confirms({ etag: '"a"' }, {})).toBe(false);
  });

  it('parses Content-Range, including unknown totals and 416 answers', () => {
    expect(parseContentRange('bytes 0-9/100')).toEqual({ start: 0, end: 9, total: 100 });
    expect(parseContentRange(' Bytes 5-5/* ')).toEqual({ start: 5, end: 5, total: undefined });
    expect(parseContentRange('bytes */4294967296')).toEqual({ unsatisfied: 4294967296 });
    for (const bad of [undefined, '', 'bytes 0-9', 'items 0-9/10', 'bytes -1-9/10', 'bytes 0-9/10, 20-29/10']) expect(parseContentRange(bad)).toBeUndefined();
  });

  it('Content-Length only when it is a plain number', () => {
    expect(contentLength({ 'content-length': '4294967296' })).toBe(4294967296);
    expect(contentLength({ 'content-length': '12 ' })).toBeUndefined();
    expect(contentLength({ 'content-length': '-1' })).toBeUndefined();
    expect(contentLength({})).toBeUndefined();
  });
});
