import { parseSipMessage } from '../../src/sip/message';
import { registerExpires, registerIdentity } from '../../src/sip/register-identity';

const reg = (...headers: string[]) =>
  parseSipMessage(
    Buffer.from(
      [
        'REGISTER sip:10.0.0.1 SIP/2.0',
        'Via: SIP/2.0/TLS 10.2.2.2:51234;branch=z9hG4bK1',
        'From: <sip:1000@10.0.0.1>;tag=1',
        'Call-ID: c1',
        'CSeq: 101 REGISTER',
        ...headers,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
  );

// What a Cisco 8865 on UCM sends: UUID-ish Contact user, the directory number as AOR.
const CISCO =
  'Contact: <sip:5e5d2e6b-33c0-4a0f-9a5c-0d3d5fb0e1aa@10.2.2.2:51234;transport=tls>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-00de0a1ab001>";+u.sip!devicename.ccm.cisco.com="SEP00DE0A1AB001";+u.sip!model.ccm.cisco.com="36670";video';

test("a Cisco phone's REGISTER names its device through devicename and +sip.instance", () => {
  expect(registerIdentity(reg('To: <sip:1000@10.0.0.1>', CISCO))).toEqual({
    kind: 'device',
    deviceName: 'SEP00DE0A1AB001',
    sources: ['contact devicename', 'contact +sip.instance'],
  });
});

test('a SEP<MAC> Contact user or AOR counts; a directory number or a random instance id does not', () => {
  expect(registerIdentity(reg('To: <sip:sep00de0a1ab001@10.0.0.1>', 'Contact: <sip:x@10.2.2.2>'))).toMatchObject({
    deviceName: 'SEP00DE0A1AB001',
    sources: ['address of record'],
  });
  expect(
    registerIdentity(
      reg(
        'To: <sip:1000@10.0.0.1>',
        'm: <sip:1000@10.2.2.2>;+sip.instance="<urn:uuid:6c1a9a4e-1b2c-4d3e-8f90-123456789abc>"',
      ),
    ),
  ).toEqual({ kind: 'none' });
});

test('two devices in one REGISTER are a conflict', () => {
  const r = registerIdentity(reg('To: <sip:SEP00DE0A1AB002@10.0.0.1>', CISCO));
  expect(r).toEqual({ kind: 'conflict', names: ['SEP00DE0A1AB001', 'SEP00DE0A1AB002'] });
});

test('expires: the Contact parameter, else the Expires header; * and 0 de-register', () => {
  expect(registerExpires(reg('To: <sip:1@x>', `${CISCO};expires=3600`))).toBe(3600);
  expect(registerExpires(reg('To: <sip:1@x>', CISCO, 'Expires: 0'))).toBe(0);
  expect(registerExpires(reg('To: <sip:1@x>', 'Contact: *', 'Expires: 0'))).toBe(0);
  expect(registerExpires(reg('To: <sip:1@x>', CISCO))).toBeUndefined();
});
