/** `logging.level` on a live reload (src/log.ts setLevel): the new level everywhere, debug categories kept. */
import { Writable } from 'node:stream';
import type pino from 'pino';
import { Logs } from '../src/log';

test('setLevel moves every category but those under debug, which stay at debug', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logs = new Logs('info', sink as unknown as pino.DestinationStream);
  logs.setDebug('tftp', true);
  logs.for('media').info('before');
  logs.setLevel('warn');
  logs.for('media').info('dropped');
  logs.for('media').warn('kept');
  logs.for('tftp').debug('still debugging');
  expect(logs.debugState()).toMatchObject({ tftp: true, media: false });
  // A category first used after the reload starts at the new level.
  logs.for('errors').info('dropped too');
  logs.setDebug('tftp', false);
  logs.for('tftp').info('tftp back at warn: dropped');
  expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['before', 'kept', 'still debugging']);
});
