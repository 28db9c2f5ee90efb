/** agent/configmgr/xml.ts: the XML reader a Multi-Status body is read with. */
import { describe, expect, it } from 'vitest';
import { parseXml, textOf, XmlError } from '../../../agent/configmgr/xml';

describe('parseXml', () => {
  it('resolves prefixes, default namespaces and redeclarations', () => {
    const root = parseXml('<?xml version="1.0"?>\n<a:multistatus xmlns:a="DAV:" xmlns="urn:x"><a:response><b xmlns="DAV:">t</b><c/></a:response></a:multistatus>');
    expect(root).toMatchObject({ ns: 'DAV:', local: 'multistatus' });
    const resp = root.children[0] as ReturnType<typeof parseXml>;
    expect(resp.children.map((c) => typeof c !== 'string' && [c.ns, c.local])).toEqual([
      ['DAV:', 'b'],
      ['urn:x', 'c'],
    ]);
  });

  it('decodes entities, character references and CDATA; skips comments and PIs', () => {
    const root = parseXml("<r><!-- c --><?pi x?>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;<![CDATA[<&>]]></r>");
    expect(textOf(root)).toBe(`a&b<>"'AB<&>`);
  });

  it.each([
    ['<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>', /DOCTYPE/],
    ['<r><a></b></r>', /does not match/],
    ['<r>', /never closed/],
    ['<p:r/>', /undeclared namespace prefix/],
    ['<r>&bogus;</r>', /unknown entity/],
    ['<r>&#0;</r>', /invalid character reference/],
    ['<r a=b/>', /unquoted attribute/],
    ['<r/><s/>', /more than one root/],
    ['', /no root/],
    ['text', /outside the root/],
  ])('refuses %j', (xml, msg) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
    expect(() => parseXml(xml)).toThrow(msg);
  });
});
