import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRegQuery } from '../../../agent/configmgr/reg-query';
import { decodeWindowsText } from '../../../agent/util/text';

const FIX = path.join(__dirname, 'fixtures');
const text = (name: string): string => decodeWindowsText(fs.readFileSync(path.join(FIX, name)));

describe('reg query output', () => {
  it('parses a single value', () => {
    expect(parseRegQuery(text('reg-query-pebootserveraddr.txt'))).toEqual({
      key: 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control',
      values: [{ name: 'PEBootServerAddr', type: 'REG_SZ', data: '10.20.30.40' }],
    });
  });

  it('parses a whole key with empty data, DWORDs, names with parentheses and subkeys', () => {
    const { values } = parseRegQuery(text('reg-query-control-winpe.txt'));
    const byName = Object.fromEntries(values.map((v) => [v.name, v]));
    expect(values).toHaveLength(14);
    expect(byName.PEBootServerAddr!.data).toBe('10.20.30.40');
    expect(byName.PEBootRamdiskSourceDrive).toEqual({ name: 'PEBootRamdiskSourceDrive', type: 'REG_SZ', data: '' });
    expect(byName.PEFirmwareType).toEqual({ name: 'PEFirmwareType', type: 'REG_DWORD', data: '0x2' });
    expect(byName.SystemStartOptions!.data).toBe(' MININT');
    expect(byName['(Default)']!.data).toBe('');
  });

  it('CRLF or CR line ends, trailing blanks cut from the data, no key line, nothing usable', () => {
    expect(parseRegQuery('\r\nHKEY_LOCAL_MACHINE\\X\r\n    A    REG_SZ    b   \r\n')).toEqual({ key: 'HKEY_LOCAL_MACHINE\\X', values: [{ name: 'A', type: 'REG_SZ', data: 'b' }] });
    expect(parseRegQuery('hkey_local_machine\\Y\r    B    REG_EXPAND_SZ    %SystemRoot%\\x\r')).toEqual({ key: 'hkey_local_machine\\Y', values: [{ name: 'B', type: 'REG_EXPAND_SZ', data: '%SystemRoot%\\x' }] });
    expect(parseRegQuery('    C    REG_DWORD    0x1')).toEqual({ key: undefined, values: [{ name: 'C', type: 'REG_DWORD', data: '0x1' }] });
    // not indented, no REG_ type, a subkey line: not values
    expect(parseRegQuery('D    REG_SZ    x\n    E    SZ    x\nHKEY_LOCAL_MACHINE\\X\\Sub\n')).toEqual({ key: 'HKEY_LOCAL_MACHINE\\X\\Sub', values: [] });
    expect(parseRegQuery('')).toEqual({ key: undefined, values: [] });
  });
});
