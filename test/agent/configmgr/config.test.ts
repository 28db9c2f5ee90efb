/** agent/configmgr/config.ts: osdcast.json validation and its templates. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTemplate, ConfigError, DEFAULT_TEMPLATES, expandTemplate, packageUrl, parseOsdcastConfig, TemplateError, templatesOf } from '../../../agent/configmgr/config';
import { decodeWindowsText } from '../../../agent/util/text';

const FIX = path.join(__dirname, 'fixtures');
const text = (name: string): string => decodeWindowsText(fs.readFileSync(path.join(FIX, name)));

describe('osdcast.json', () => {
  it('reads every documented key', () => {
    const { config, warnings } = parseOsdcastConfig(text('osdcast.json'));
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      server: 'cm01.corp.contoso.com',
      abortCode: 99,
      namespaceTemplate: 'SMSPKG\\{packageId}',
      contentTemplate: '{packageId}/{file}',
      httpTemplate: 'http://{server}/SMS_DP_SMSPKG$/{packageId}/{file}',
    });
  });

  it('rejects wrong types with the key named', () => {
    expect(() => parseOsdcastConfig(text('osdcast-bad-abort.json'))).toThrow(/"abortCode" must be an integer/);
    expect(() => parseOsdcastConfig('{"server": "two words"}')).toThrow(ConfigError);
    // Exit codes are 8 bits outside Windows: 256 would be exit 0, success, so it is refused there.
    expect(() => parseOsdcastConfig('{"abortCode": 256}', 'osdcast.json', 'linux')).toThrow(/"abortCode" must be from 1 to 255 on linux \(exit codes are 8 bits there\), got 256/);
    expect(parseOsdcastConfig('{"abortCode": 255}', 'osdcast.json', 'linux').config.abortCode).toBe(255);
    expect(parseOsdcastConfig('{"abortCode": 70000}', 'osdcast.json', 'win32').config.abortCode).toBe(70000);
    expect(() => parseOsdcastConfig('{"httpTemplate": 5}')).toThrow(/httpTemplate/);
    expect(() => parseOsdcastConfig('[1]')).toThrow(/JSON object/);
    expect(() => parseOsdcastConfig('{server: x}', 'C:\\osdcast.json')).toThrow(/C:\\osdcast.json: not valid JSON/);
  });

  it('warns about unknown keys (BOM tolerated)', () => {
    const { config, warnings } = parseOsdcastConfig(text('osdcast-unknown-key.json'));
    expect(config).toEqual({ abortCode: 7 });
    expect(warnings).toEqual(['osdcast.json: unknown key "serverName" ignored']);
  });
});

describe('templates', () => {
  it('expands templates: the defaults, the recorded osdcast.json sample, URL encoding, IPv6', () => {
    const v = { packageId: 'PS100004', rel: ['Sub Dir', 'a&b.wim'], host: 'dp01' };
    expect(expandTemplate(DEFAULT_TEMPLATES.namespace, v)).toBe('SMSPKG');
    expect(expandTemplate(DEFAULT_TEMPLATES.content, v)).toBe('PS100004/Sub Dir/a&b.wim');
    expect(expandTemplate('SMSPKG\\{packageId}', v)).toBe('SMSPKG\\PS100004');
    expect(expandTemplate('{packageId}\\{winpath}', v)).toBe('PS100004\\Sub Dir\\a&b.wim');
    expect(expandTemplate('http://{server}/SMS_DP_SMSPKG$/{packageId}/{file}', v, true)).toBe('http://dp01/SMS_DP_SMSPKG$/PS100004/Sub%20Dir/a%26b.wim');
    expect(packageUrl(DEFAULT_TEMPLATES.http, 'PS100004', 'dp01')).toBe('http://dp01/SMS_DP_SMSPKG$/PS100004');
    expect(packageUrl('http://{server}/SMS_DP_SMSPKG$/{packageId}/{file}', 'PS100004', 'fd00::5')).toBe('http://[fd00::5]/SMS_DP_SMSPKG$/PS100004');
    expect(() => packageUrl('ftp://{server}/{PackageID}', 'PS100004', 'dp01')).toThrow(/http/);
    expect(() => checkTemplate('contentTemplate', '{PackageId}/{filename}')).toThrow(/unknown placeholder \{filename\}/);
  });

  it('{drive}: the KB2000470 smsts.log shape, default C, set by osdcast.json "drive"', () => {
    const v = { packageId: 'PS100004', rel: ['Sub Dir', 'install.wim'], host: 'dp01.corp.contoso.com' };
    // Download: Server=<DP FQDN> Namespace=//<DP FQDN>/SMSPKG<drive>$/<PackageID> RemoteObject=\\<DP FQDN>/SMSPKG<drive>$/<PackageID>\…
    expect(expandTemplate('//{server}/SMSPKG{drive}$/{PackageID}', v)).toBe('//dp01.corp.contoso.com/SMSPKGC$/PS100004');
    expect(expandTemplate('\\\\{server}/SMSPKG{drive}$/{PackageID}\\{winpath}', { ...v, drive: 'D' })).toBe('\\\\dp01.corp.contoso.com/SMSPKGD$/PS100004\\Sub Dir\\install.wim');
    expect(templatesOf({}).drive).toBe('C');
    expect(templatesOf(parseOsdcastConfig('{"drive": "e"}').config).drive).toBe('E');
    expect(() => parseOsdcastConfig('{"drive": "DE"}')).toThrow(/"drive" must be one drive letter/);
    expect(() => parseOsdcastConfig('{"drive": 4}')).toThrow(ConfigError);
    expect(packageUrl('http://{server}/SMS_DP_SMSPKG{drive}$/{PackageID}', 'PS100004', 'dp01', 'D')).toBe('http://dp01/SMS_DP_SMSPKGD$/PS100004');
  });

  it('fills in the defaults and checks every template, naming the key', () => {
    expect(templatesOf({})).toEqual({ namespace: 'SMSPKG', content: '{PackageID}/{path}', http: 'http://{server}/SMS_DP_SMSPKG$/{PackageID}', drive: 'C' });
    expect(templatesOf({ contentTemplate: '{winpath}' }).content).toBe('{winpath}');
    expect(() => templatesOf({ contentTemplate: '{PackageID}/{nope}' })).toThrow(TemplateError);
    expect(() => templatesOf({ httpTemplate: 'http://{host}/{colour}' })).toThrow(/httpTemplate .*unknown placeholder \{colour\}/);
  });
});
