/** The cluster CTL's union: the same inputs in any order give the same records and timestamp. */
import { type NodeRecordSet, publishedRecords, sameRecords, unionCtl } from '../../src/pki/cluster-ctl';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';

let cert: string;
beforeAll(async () => {
  cert = createCertificate({ subject: 'CN=pp', subjectKeyPem: await generateRsaKey(2048), ca: false });
});

test('records are published as DER, SAST records stay out, and sets compare by content', () => {
  const recs = publishedRecords([
    { function: 'sast', certificate: cert },
    { function: 'cucm-tftp', certificate: cert, ip: '192.0.2.1' },
  ]);
  expect(recs).toEqual([expect.objectContaining({ function: 'cucm-tftp', ip: '192.0.2.1' })]);
  expect(Buffer.from(recs[0]?.der ?? '', 'base64').subarray(0, 1)).toEqual(Buffer.from([0x30]));
  expect(sameRecords(recs, publishedRecords([{ function: 'cucm-tftp', certificate: cert, ip: '192.0.2.1' }]))).toBe(
    true,
  );
  expect(sameRecords(recs, publishedRecords([{ function: 'cucm-tftp', certificate: cert, ip: '192.0.2.2' }]))).toBe(
    false,
  );
});

test('the union: SAST first, nodes in name order, duplicates once, the newest time', () => {
  const der = publishedRecords([{ function: 'cucm-tftp', certificate: cert }])[0]?.der as string;
  const a: NodeRecordSet = { node: 'a', at: 100, records: [{ function: 'cucm-tftp', der, ip: '192.0.2.1' }] };
  const b: NodeRecordSet = {
    node: 'b',
    at: 200,
    records: [
      { function: 'cucm-tftp', der, ip: '192.0.2.2' },
      { function: 'cucm-tftp', der, ip: '192.0.2.1' },
    ],
  };
  const sast = [{ function: 'sast' as const, certificate: cert }];
  const one = unionCtl(sast, [b, a]);
  const other = unionCtl(sast, [a, b]);
  expect(one).toEqual(other);
  expect(one.timestamp).toBe(200);
  expect(one.nodes).toEqual(['a', 'b']);
  expect(one.records.map((r) => ('function' in r ? `${r.function}@${r.ip ?? ''}` : 'carry'))).toEqual([
    'sast@',
    'cucm-tftp@192.0.2.1',
    'cucm-tftp@192.0.2.2',
  ]);
});
