import { keyId, parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';

const HEX_A = 'a'.repeat(64);
const HEX_B = '0123456789abcdef'.repeat(4);

test('a sealed value opens under its key and context, and does not contain the plaintext', () => {
  const box = new SecretBox(parseSecretKeys(`${HEX_A}\n`));
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n';
  const sealed = box.seal(pem, 'trust');
  expect(sealed.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
  expect(box.open(sealed, 'trust').toString()).toBe(pem);
  // Two seals of one value differ (fresh IV), both open.
  const again = box.seal(pem, 'trust');
  expect(again.equals(sealed)).toBe(false);
  expect(box.open(again, 'trust').toString()).toBe(pem);
});

test('moved to another key, tampered with, or under an unknown key, a value does not open', () => {
  const box = new SecretBox(parseSecretKeys(HEX_A));
  const sealed = box.seal(Buffer.from([1, 2, 3]), 'media:1');
  expect(() => box.open(sealed, 'media:2')).toThrow(/failed authentication/);
  const bad = Buffer.from(sealed);
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
  expect(() => box.open(bad, 'media:1')).toThrow(/failed authentication/);
  const other = new SecretBox(parseSecretKeys(HEX_B));
  expect(() => other.open(sealed, 'media:1')).toThrow(`sealed with key ${keyId(Buffer.from(HEX_A, 'hex'))}`);
  expect(() => box.open(Buffer.from('nope'), 'media:1')).toThrow(/bad header/);
});

test('rotation: the first key seals, every key opens, stale values are recognised', () => {
  const old = new SecretBox(parseSecretKeys(HEX_A));
  const sealedOld = old.seal('k', 'x');
  const rotated = new SecretBox(parseSecretKeys(`# new key first\n${HEX_B}\n${HEX_A}\n`));
  expect(rotated.open(sealedOld, 'x').toString()).toBe('k');
  expect(rotated.isStale(sealedOld)).toBe(true);
  expect(rotated.isStale(rotated.seal('k', 'x'))).toBe(false);
  expect(rotated.currentId).toBe(keyId(Buffer.from(HEX_B, 'hex')));
});

test('the secret file: hex keys or long passphrases; anything else names its line', () => {
  const [pass] = parseSecretKeys('correct horse battery staple and some more words');
  expect(pass?.key).toHaveLength(32);
  expect(pass?.id).toMatch(/^[0-9a-f]{16}$/);
  expect(() => parseSecretKeys(`${HEX_A}\nshort\n`)).toThrow(/^line 2: a key is 64 hex digits/);
  expect(() => parseSecretKeys('# only a comment\n')).toThrow(/holds no key/);
});
