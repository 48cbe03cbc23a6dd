/**
 * A small, namespace-unaware XML scanner for phone configuration files. It checks well-formedness
 * (tags nest and match, attributes quoted, one root, entity references well-formed) and records
 * where every element and its content sit in the text, so a rewriter can edit values in place and
 * leave every other byte as UCM wrote it. Pure.
 *
 * Namespace-unaware on purpose: CUCM writes `<device xsi:type="axl:XIPPhone">` without declaring
 * `xsi` (docs/cnf-xml.md §1.1); a namespace-aware parser would reject real files.
 * DOCTYPE is refused: CUCM never writes one, and an internal subset could declare entities.
 */
import { CnfParseError } from '../errors';

export interface XmlElement {
  name: string;
  parent: XmlElement | undefined;
  children: XmlElement[];
  /** Offset of `<`. */
  start: number;
  /** Offset just after the start tag's `>` (for `<a/>`, after `/>`). */
  contentStart: number;
  /** Offset of the end tag's `<` (for `<a/>`, equals contentStart). */
  contentEnd: number;
  /** Offset just after the end tag's `>`. */
  end: number;
  selfClosing: boolean;
  attributes: Record<string, string>;
}

export interface XmlDocument {
  text: string;
  root: XmlElement;
}

const NAME_START = /[A-Za-z_:]/;
const NAME_CHAR = /[A-Za-z0-9_:.-]/;

export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function scanXml(text: string): XmlDocument {
  const fail = (reason: string, at: number): never => {
    const { line, column } = positionOf(text, at);
    throw new CnfParseError(reason, line, column, at);
  };
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let root: XmlElement | undefined;
  const stack: XmlElement[] = [];

  const readName = (at: number): { name: string; next: number } => {
    if (at >= n || !NAME_START.test(text[at] as string)) fail('expected a name', at);
    let j = at + 1;
    while (j < n && NAME_CHAR.test(text[j] as string)) j++;
    return { name: text.slice(at, j), next: j };
  };
  const skipSpace = (at: number): number => {
    let j = at;
    while (j < n && /\s/.test(text[j] as string)) j++;
    return j;
  };
  const checkText = (from: number, to: number, inside: boolean) => {
    for (let j = from; j < to; j++) {
      const c = text[j] as string;
      if (c === '&') {
        const semi = text.indexOf(';', j);
        const ref = semi < 0 ? '' : text.slice(j + 1, semi);
        if (!/^(?:[A-Za-z_][A-Za-z0-9_.-]*|#[0-9]+|#x[0-9A-Fa-f]+)$/.test(ref)) fail('malformed entity reference', j);
        j = semi;
      } else if (!inside && !/\s/.test(c)) {
        fail('text outside the root element', j);
      }
    }
  };

  let textStart = i;
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      checkText(i, n, stack.length > 0);
      i = n;
      break;
    }
    checkText(textStart, lt, stack.length > 0);
    if (text.startsWith('<!--', lt)) {
      const close = text.indexOf('-->', lt + 4);
      if (close < 0) fail('unterminated comment', lt);
      i = close + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      if (stack.length === 0) fail('CDATA outside the root element', lt);
      const close = text.indexOf(']]>', lt + 9);
      if (close < 0) fail('unterminated CDATA section', lt);
      i = close + 3;
    } else if (text.startsWith('<?', lt)) {
      const close = text.indexOf('?>', lt + 2);
      if (close < 0) fail('unterminated processing instruction', lt);
      i = close + 2;
    } else if (text.startsWith('<!', lt)) {
      fail('DOCTYPE and other declarations are not allowed in a phone configuration', lt);
    } else if (text[lt + 1] === '/') {
      const { name, next } = readName(lt + 2);
      const gt = skipSpace(next);
      if (text[gt] !== '>') fail(`expected ">" to close </${name}`, gt);
      const open = stack.pop();
      if (!open) fail(`end tag </${name}> without a start tag`, lt);
      else if (open.name !== name) fail(`end tag </${name}> does not match <${open.name}>`, lt);
      else {
        open.contentEnd = lt;
        open.end = gt + 1;
      }
      i = gt + 1;
    } else {
      const { name, next } = readName(lt + 1);
      const attributes: Record<string, string> = {};
      let j = next;
      let selfClosing = false;
      for (;;) {
        const k = skipSpace(j);
        if (k >= n) fail(`unterminated start tag <${name}`, lt);
        if (text[k] === '>') {
          j = k + 1;
          break;
        }
        if (text.startsWith('/>', k)) {
          selfClosing = true;
          j = k + 2;
          break;
        }
        if (k === j) fail(`expected whitespace before an attribute in <${name}`, k);
        const attr = readName(k);
        const eq = skipSpace(attr.next);
        if (text[eq] !== '=') fail(`attribute ${attr.name} has no value`, eq);
        const q = skipSpace(eq + 1);
        const quote = text[q];
        if (quote !== '"' && quote !== "'") fail(`attribute ${attr.name} value is not quoted`, q);
        const endq = text.indexOf(quote as string, q + 1);
        if (endq < 0) fail(`unterminated value of attribute ${attr.name}`, q);
        const value = text.slice(q + 1, endq);
        if (value.includes('<')) fail(`"<" in the value of attribute ${attr.name}`, q);
        if (attr.name in attributes) fail(`attribute ${attr.name} repeated`, k);
        attributes[attr.name] = value;
        j = endq + 1;
      }
      const parent = stack[stack.length - 1];
      if (!parent && root) fail(`second root element <${name}>`, lt);
      const el: XmlElement = {
        name,
        parent,
        children: [],
        start: lt,
        contentStart: j,
        contentEnd: j,
        end: j,
        selfClosing,
        attributes,
      };
      if (parent) parent.children.push(el);
      else root = el;
      if (!selfClosing) stack.push(el);
      i = j;
    }
    textStart = i;
  }
  const open = stack[stack.length - 1];
  if (open) fail(`<${open.name}> is not closed`, open.start);
  if (!root) fail('no root element', 0);
  return { text, root: root as XmlElement };
}

/** Text content of a leaf element with the five predefined entities decoded (enough for values we read). */
export function leafText(doc: XmlDocument, el: XmlElement): string {
  return doc.text
    .slice(el.contentStart, el.contentEnd)
    .replace(
      /&(lt|gt|amp|quot|apos);/g,
      (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] as string,
    )
    .trim();
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Depth-first walk over all elements. */
export function* walk(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) yield* walk(c);
}
