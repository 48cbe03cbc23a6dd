/**
 * The log message catalogue (src/messages.ts) and its operator documentation (docs/messages.md)
 * agree both ways, and every warning and error call in src/ passes a message id whose severity
 * is the call's level — read from the source with TypeScript's parser, so a new `log.warn(…)`
 * without an id fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { MESSAGES, type MessageId, messageTag, messageText, ppx } from '../src/messages';

const ROOT = path.resolve(__dirname, '..');
const DOC = readFileSync(path.join(ROOT, 'docs/messages.md'), 'utf8');

const ids = Object.keys(MESSAGES).map(Number) as MessageId[];

describe('docs/messages.md', () => {
  const documented = [...DOC.matchAll(/^### %PPX-(\d)-(\d{6})$/gm)].map((m) => ({
    severity: Number(m[1]),
    id: Number(m[2]),
  }));

  test('lists every id of the table once, with its severity, and nothing else', () => {
    expect(documented.length).toBeGreaterThan(40);
    expect(new Set(documented.map((d) => d.id)).size).toBe(documented.length);
    expect(documented.map((d) => d.id).sort()).toEqual([...ids].sort());
    for (const d of documented) expect(d.severity).toBe(MESSAGES[d.id as MessageId].severity);
  });

  test('gives each id its text, explanation and recommended action as the table has them', () => {
    for (const id of ids) {
      const m = MESSAGES[id];
      const section = DOC.split(`### ${`%${messageTag(id)}`}\n`)[1]?.split('\n### ')[0] ?? '';
      expect(section).toContain(`\`%${messageTag(id)}: ${m.text}\``);
      expect(section).toContain(`**Explanation** ${m.explanation}`);
      expect(section).toContain(`**Recommended action** ${m.action}`);
    }
  });
});

test('ids are six digits in an area of the table, severities the ASA’s error or warning', () => {
  for (const id of ids) {
    expect(String(id)).toMatch(/^(100|120|130|140|150|160|170|180|190)\d{3}$/);
    expect([3, 4]).toContain(MESSAGES[id].severity);
  }
});

describe('ppx', () => {
  test('logs the tag as msgId and the template filled in from the fields', () => {
    const [fields, text] = ppx(120003, {
      from: '203.0.113.5',
      limit: 'per-source',
      code: 'EPX_TFTP_RATE_LIMITED_SOURCE',
    });
    expect(fields).toEqual({
      msgId: 'PPX-4-120003',
      from: '203.0.113.5',
      limit: 'per-source',
      code: 'EPX_TFTP_RATE_LIMITED_SOURCE',
    });
    expect(text).toBe('TFTP request from 203.0.113.5 refused: rate limit (per-source)');
  });

  test('a peer’s text stays on one line and bounded', () => {
    const text = messageText(120005, {
      from: '198.51.100.7:1000',
      file: `SEP1.cnf.xml.enc.sgn\r\n%PPX-3-999999: forged${'x'.repeat(500)}`,
    });
    expect(text).not.toMatch(/[\r\n]/);
    expect(text).toContain('\\x0d\\x0a%PPX-3-999999');
    expect(text.length).toBeLessThan(400);
  });

  test('a missing field is a type error', () => {
    // @ts-expect-error: 120003 names {from} and {limit}
    const [, text] = ppx(120003, { from: '203.0.113.5' });
    expect(text).toContain('rate limit (undefined)');
  });
});

/** Every `.warn(` / `.error(` / `.fatal(` call in src/, with what it passes. */
function logCalls(): { where: string; level: string; args: ts.NodeArray<ts.Expression> }[] {
  const files = readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
  const out: { where: string; level: string; args: ts.NodeArray<ts.Expression> }[] = [];
  for (const file of files) {
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (n: ts.Node) => {
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        ['warn', 'error', 'fatal'].includes(n.expression.name.text)
      ) {
        const receiver = n.expression.expression.getText(src);
        // The ASA import's report and the protocol counters are not loggers.
        if (!/(^|\.)(ledger|counters|console)$/.test(receiver)) {
          const { line } = src.getLineAndCharacterOfPosition(n.getStart(src));
          out.push({
            where: `${path.relative(ROOT, file)}:${line + 1}`,
            level: n.expression.name.text,
            args: n.arguments,
          });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out;
}

/** The id of `ppx(N, …)` (spread or not) among a call's arguments; `line` is a ppx result passed on. */
function passedId(args: ts.NodeArray<ts.Expression>): number | 'passed-on' | undefined {
  for (const a of args) {
    const e = ts.isSpreadElement(a) ? a.expression : a;
    if (ts.isCallExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'ppx') {
      const first = e.arguments[0];
      return first && ts.isNumericLiteral(first) ? Number(first.text) : undefined;
    }
    // The TLS proxy's rate-limited warn() and the upstream loop hand a ppx() result on as `line`.
    if (ts.isIdentifier(e) && e.text === 'line') return 'passed-on';
  }
  return undefined;
}

test('every warn and error call in src/ passes a message id of its severity', () => {
  const calls = logCalls();
  expect(calls.length).toBeGreaterThan(40);
  const problems: string[] = [];
  const used = new Set<number>();
  for (const c of calls) {
    const id = passedId(c.args);
    if (id === undefined) problems.push(`${c.where}: .${c.level}() without ppx(<id>, …)`);
    if (typeof id !== 'number') continue;
    used.add(id);
    const m = MESSAGES[id as MessageId];
    if (!m) problems.push(`${c.where}: ${id} is not in src/messages.ts`);
    else if (m.severity !== (c.level === 'warn' ? 4 : 3))
      problems.push(`${c.where}: .${c.level}() with ${messageTag(id as MessageId)}`);
  }
  expect(problems).toEqual([]);
  // And no id is left in the table without a line that writes it (`line = ppx(…)` included).
  for (const f of readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })) {
    if (!f.isFile() || !f.name.endsWith('.ts')) continue;
    const text = readFileSync(path.join(f.parentPath, f.name), 'utf8');
    for (const m of text.matchAll(/\bppx\((\d{6})\b/g)) used.add(Number(m[1]));
  }
  expect(ids.filter((id) => !used.has(id))).toEqual([]);
});
