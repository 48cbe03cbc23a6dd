/**
 * The log outputs (src/log.ts, src/rfc5424.ts, src/syslog.ts): JSON lines with `msgId`,
 * human-readable lines with the `%PPX-…` prefix, RFC 5424 messages parsed strictly, and a
 * syslog destination that drops and counts rather than queues or blocks.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { PassThrough } from 'node:stream';
import { Logs } from '../../src/log';
import { ppx } from '../../src/messages';
import { formatRfc5424, SYSLOG_FACILITIES, syslogDatagram } from '../../src/rfc5424';
import { SyslogStream } from '../../src/syslog';

/**
 * RFC 5424 §6 ABNF, strictly: PRI, VERSION 1, an RFC 3339 TIMESTAMP, PRINTUSASCII header fields
 * of their maximum lengths, NILVALUE or structured data, then MSG.
 */
const RFC5424 =
  /^<(\d{1,3})>1 (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (-|\[.+\]) (.*)$/s;

function parseRfc5424(text: string) {
  const m = RFC5424.exec(text);
  if (!m) throw new Error(`not RFC 5424: ${text}`);
  const pri = Number(m[1]);
  if (pri > 191) throw new Error(`PRI ${pri} out of range`);
  return {
    facility: pri >> 3,
    severity: pri & 7,
    timestamp: m[2] as string,
    hostname: m[3] as string,
    appName: m[4] as string,
    procId: m[5] as string,
    msgId: m[6] as string,
    structuredData: m[7] as string,
    msg: m[8] as string,
  };
}

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

const RATE_LIMIT = { from: '203.0.113.5', limit: 'per-source', code: 'EPX_TFTP_RATE_LIMITED_SOURCE' };

describe('formats', () => {
  test('JSON (the default for a given destination): msgId is a field, the text is the template filled in', () => {
    const out = capture();
    const logs = new Logs('info', out.stream);
    expect(logs.format).toBe('json');
    logs.for('tftp').warn(...ppx(120003, RATE_LIMIT));
    const line = JSON.parse(out.lines()[0] ?? '{}');
    expect(line).toMatchObject({
      level: 40,
      category: 'tftp',
      msgId: 'PPX-4-120003',
      from: '203.0.113.5',
      msg: 'TFTP request from 203.0.113.5 refused: rate limit (per-source)',
    });
  });

  test('pretty: one readable line with level, category, the %PPX prefix, the text, then the fields', async () => {
    const out = capture();
    const logs = new Logs('info', out.stream, { format: 'pretty' });
    expect(logs.format).toBe('pretty');
    logs.for('tftp').warn(...ppx(120003, RATE_LIMIT));
    logs.for('events').info({ listening: 3 }, 'phone-proxy started');
    await new Promise((r) => setImmediate(r));
    const lines = out.lines();
    expect(lines[0]).toMatch(
      /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\] WARN: \[tftp\] %PPX-4-120003: TFTP request from 203\.0\.113\.5 refused: rate limit \(per-source\) \{"from":"203\.0\.113\.5","limit":"per-source","code":"EPX_TFTP_RATE_LIMITED_SOURCE"\}$/,
    );
    expect(lines[1]).toMatch(/INFO: \[events\] phone-proxy started \{"listening":3\}$/);
    expect(lines).toHaveLength(2);
    // Not JSON anywhere, and the id is not repeated as a field.
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(lines.some((l) => l.includes('msgId'))).toBe(false);
  });

  test('secrets stay redacted in every format', async () => {
    for (const format of ['json', 'pretty'] as const) {
      const out = capture();
      new Logs('info', out.stream, { format }).for('events').info({ key: 'PRIVATE-KEY-BYTES' }, 'x');
      await new Promise((r) => setImmediate(r));
      expect(out.lines().join('\n')).not.toContain('PRIVATE-KEY-BYTES');
      expect(out.lines().join('\n')).toContain('[redacted]');
    }
  });
});

describe('RFC 5424', () => {
  const header = { facility: 'local4' as const, hostname: 'pp1.example', appName: 'phone-proxy', procId: 4242 };

  test('a warning: PRI from facility and severity, version 1, timestamp, host, app, pid, MSGID, the %PPX text', () => {
    const [fields, msg] = ppx(120003, RATE_LIMIT);
    const text = formatRfc5424({ level: 40, time: Date.UTC(2026, 11, 4, 21, 0, 1, 250), ...fields, msg }, header);
    const p = parseRfc5424(text);
    expect(p).toEqual({
      facility: SYSLOG_FACILITIES.local4,
      severity: 4,
      timestamp: '2026-12-04T21:00:01.250Z',
      hostname: 'pp1.example',
      appName: 'phone-proxy',
      procId: '4242',
      msgId: 'PPX-4-120003',
      structuredData: '-',
      msg: '%PPX-4-120003: TFTP request from 203.0.113.5 refused: rate limit (per-source) {"from":"203.0.113.5","limit":"per-source","code":"EPX_TFTP_RATE_LIMITED_SOURCE"}',
    });
  });

  test('an info line has no MSGID; header fields are made printable; line breaks do not split MSG', () => {
    const text = formatRfc5424({ level: 30, time: 0, msg: 'two\nlines' }, { ...header, hostname: 'host with spaces' });
    const p = parseRfc5424(text);
    expect(p.severity).toBe(6);
    expect(p.msgId).toBe('-');
    expect(p.hostname).toBe('host_with_spaces');
    expect(p.msg).toBe('two lines');
  });

  test('a datagram is cut at the size limit on a character boundary', () => {
    const d = syslogDatagram(`x${'é'.repeat(100)}`, 20);
    expect(d.length).toBeLessThanOrEqual(20);
    expect(d.toString('utf8')).toBe(`x${'é'.repeat(9)}`);
  });
});

describe('the syslog destination', () => {
  let rx: dgram.Socket;
  let port: number;
  const received: string[] = [];
  beforeAll(async () => {
    rx = dgram.createSocket('udp4');
    rx.on('message', (m) => received.push(m.toString('utf8')));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    port = rx.address().port;
  });
  afterAll(() => rx.close());

  test('a burst over the in-flight bound is dropped and counted, not queued; write never waits', async () => {
    received.length = 0;
    const s = new SyslogStream({ address: '127.0.0.1', port, facility: 'daemon' }, 4);
    const line = JSON.stringify({ level: 40, time: Date.now(), msgId: 'PPX-4-120003', msg: 'burst' });
    // 1000 writes in one tick: the socket is not even connected yet, so at most 4 can be held.
    for (let i = 0; i < 1000; i++) expect(s.write(line)).toBe(true);
    expect(s.stats.dropped).toBe(996);
    await until(() => s.stats.sent === 4, 'the 4 held lines sent');
    await until(() => received.length === 4, 'the 4 lines received');
    expect(parseRfc5424(received[0] ?? '')).toMatchObject({
      facility: 3,
      severity: 4,
      msgId: 'PPX-4-120003',
      procId: String(process.pid),
      hostname: os.hostname(),
    });
    // Once they are out, lines go through again.
    s.write(line);
    await until(() => s.stats.sent === 5, 'the next line sent');
    s.close();
  });

  test('nothing listening: sends fail with ECONNREFUSED and are counted as errors', async () => {
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', () => r()));
    const deadPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    const s = new SyslogStream({ address: '127.0.0.1', port: deadPort, facility: 'daemon' });
    const line = JSON.stringify({ level: 30, time: Date.now(), msg: 'into the void' });
    for (let i = 0; i < 50 && s.stats.errors === 0; i++) {
      s.write(line);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(s.stats.errors).toBeGreaterThan(0);
    expect(s.stats.lastError).toMatch(/ECONNREFUSED/);
    s.close();
  });
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
