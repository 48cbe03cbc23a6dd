/** The rtpengine-style warning limiter (src/tls/log-limit.ts). */
import { LogLimiter } from '../src/log-limit';

describe('LogLimiter', () => {
  it('writes the first message per key, counts the rest within the interval, reports them with the next', () => {
    const l = new LogLimiter(15_000);
    expect(l.check('no-certificate', 0)).toEqual({ write: true, suppressed: 0 });
    for (let i = 1; i <= 199; i++) expect(l.check('no-certificate', i).write).toBe(false);
    // another key is independent
    expect(l.check('handshake-timeout', 10)).toEqual({ write: true, suppressed: 0 });
    expect(l.check('no-certificate', 15_000)).toEqual({ write: true, suppressed: 199 });
    expect(l.check('no-certificate', 15_001)).toEqual({ write: false, suppressed: 1 });
    expect(l.suppressedTotal).toBe(200);
  });

  it('flush reports a burst that stopped once its interval is over, and forgets the key', () => {
    const l = new LogLimiter(1000);
    l.check('k', 0);
    l.check('k', 1);
    l.check('k', 2);
    expect(l.flush(999)).toEqual([]);
    expect(l.flush(1000)).toEqual([{ key: 'k', suppressed: 2 }]);
    expect(l.check('k', 1001)).toEqual({ write: true, suppressed: 0 });
  });

  it('holds at most maxKeys keys', () => {
    const l = new LogLimiter(1000, 3);
    for (const k of ['a', 'b', 'c', 'd']) expect(l.check(k, 0).write).toBe(true);
    // 'a' was evicted: it is written again at once instead of suppressed
    expect(l.check('a', 1).write).toBe(true);
    expect(l.check('d', 1).write).toBe(false);
  });
});
