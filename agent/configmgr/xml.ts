/**
 * A minimal namespace-aware XML reader, enough for a WebDAV 207 Multi-Status body (RFC 4918 §13-14) without a
 * new dependency: elements, text, CDATA, the five predefined entities and character references, and namespace
 * prefixes (IIS writes `<D:href>`, others `<a:href>` or a default namespace). A DOCTYPE is refused outright (no
 * entity expansion, no external entities). Pure: text in, a tree or an XmlError out.
 */
import { stripBom } from '../util/text';

export class XmlError extends Error {}

export interface XmlElement {
  /** Namespace URI ('' when none). */
  ns: string;
  local: string;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

const NAME = /^[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9_.\u00B7\u00C0-\uFFFF]*(?::[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9_.\u00B7\u00C0-\uFFFF]*)?/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const MAX_DEPTH = 256;

function decodeEntities(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(';')) throw new XmlError(`unterminated entity reference near offset ${at}`);
    if (name in PREDEFINED) return PREDEFINED[name]!;
    const num = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (num) {
      const cp = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new XmlError(`invalid character reference &${name}; near offset ${at}`);
      return String.fromCodePoint(cp);
    }
    throw new XmlError(`unknown entity &${name}; near offset ${at}`);
  });
}

/** Parses a whole XML document into its root element. Throws XmlError on anything malformed. */
export function parseXml(text: string): XmlElement {
  const s = stripBom(text);
  let i = 0;
  let root: XmlElement | undefined;
  const stack: { el: XmlElement; qname: string; scope: Map<string, string> }[] = [];
  let scope = new Map<string, string>([['xml', 'http://www.w3.org/XML/1998/namespace']]);

  const text_ = (t: string) => {
    if (stack.length === 0) {
      if (t.trim() !== '') throw new XmlError(`text outside the root element near offset ${i}`);
      return;
    }
    stack[stack.length - 1]!.el.children.push(t);
  };

  while (i < s.length) {
    const lt = s.indexOf('<', i);
    if (lt < 0) {
      text_(decodeEntities(s.slice(i), i));
      break;
    }
    if (lt > i) text_(decodeEntities(s.slice(i, lt), i));
    i = lt;
    if (s.startsWith('<?', i)) {
      const end = s.indexOf('?>', i + 2);
      if (end < 0) throw new XmlError('unterminated processing instruction');
      i = end + 2;
    } else if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) throw new XmlError('unterminated comment');
      i = end + 3;
    } else if (s.startsWith('<![CDATA[', i)) {
      const end = s.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlError('unterminated CDATA section');
      text_(s.slice(i + 9, end));
      i = end + 3;
    } else if (s.startsWith('<!', i)) {
      throw new XmlError('DOCTYPE and other declarations are not accepted');
    } else if (s.startsWith('</', i)) {
      const m = NAME.exec(s.slice(i + 2, i + 2 + 1024));
      const close = m ? s.indexOf('>', i + 2 + m[0].length) : -1;
      if (!m || close < 0 || s.slice(i + 2 + m[0].length, close).trim() !== '') throw new XmlError(`malformed end tag near offset ${i}`);
      const top = stack.pop();
      if (!top || top.qname !== m[0]) throw new XmlError(`end tag </${m[0]}> does not match ${top ? `<${top.qname}>` : 'any open element'} near offset ${i}`);
      scope = stack.length ? stack[stack.length - 1]!.scope : scope;
      i = close + 1;
    } else {
      const m = NAME.exec(s.slice(i + 1, i + 1 + 1024));
      if (!m) throw new XmlError(`malformed start tag near offset ${i}`);
      const qname = m[0];
      let j = i + 1 + qname.length;
      const attrs: [string, string][] = [];
      let selfClosing = false;
      for (;;) {
        const ws = /^\s*/.exec(s.slice(j, j + 4096))![0];
        j += ws.length;
        if (s.startsWith('/>', j)) {
          selfClosing = true;
          j += 2;
          break;
        }
        if (s[j] === '>') {
          j += 1;
          break;
        }
        if (ws === '') throw new XmlError(`malformed start tag <${qname}> near offset ${j}`);
        const an = NAME.exec(s.slice(j, j + 1024));
        if (!an) throw new XmlError(`malformed attribute in <${qname}> near offset ${j}`);
        j += an[0].length;
        const eq = /^\s*=\s*/.exec(s.slice(j, j + 1024));
        if (!eq) throw new XmlError(`attribute ${an[0]} without a value near offset ${j}`);
        j += eq[0].length;
        const q = s[j];
        if (q !== '"' && q !== "'") throw new XmlError(`unquoted attribute ${an[0]} near offset ${j}`);
        const end = s.indexOf(q, j + 1);
        if (end < 0) throw new XmlError(`unterminated attribute ${an[0]}`);
        attrs.push([an[0], decodeEntities(s.slice(j + 1, end), j)]);
        j = end + 1;
      }
      const newScope = attrs.some(([n]) => n === 'xmlns' || n.startsWith('xmlns:')) ? new Map(scope) : scope;
      for (const [n, v] of attrs) {
        if (n === 'xmlns') newScope.set('', v);
        else if (n.startsWith('xmlns:')) newScope.set(n.slice(6), v);
      }
      const colon = qname.indexOf(':');
      const prefix = colon >= 0 ? qname.slice(0, colon) : '';
      const ns = newScope.get(prefix);
      if (prefix !== '' && ns === undefined) throw new XmlError(`undeclared namespace prefix "${prefix}" in <${qname}>`);
      const el: XmlElement = { ns: ns ?? '', local: colon >= 0 ? qname.slice(colon + 1) : qname, children: [] };
      if (stack.length) stack[stack.length - 1]!.el.children.push(el);
      else if (root) throw new XmlError('more than one root element');
      else root = el;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) throw new XmlError(`elements nested deeper than ${MAX_DEPTH}`);
        stack.push({ el, qname, scope: newScope });
        scope = newScope;
      }
      i = j;
    }
  }
  if (stack.length) throw new XmlError(`<${stack[stack.length - 1]!.qname}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

export function childElements(el: XmlElement, ns: string, local: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.ns === ns && c.local === local);
}

export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}
