/**
 * Secrets written to Redis (SRTP master keys, private keys) sealed with AES-256-GCM under a key
 * from the policy's secret file (docs/cluster.md §4). Pure: bytes in, bytes out, no I/O.
 *
 * The secret file holds one key per line: 64 hex digits (32 bytes), or a passphrase of at least
 * 32 characters stretched with HKDF-SHA256. The first line seals; every line opens, so a key is
 * rotated by adding the new one on top, then removing the old one once every value is rewritten.
 * A sealed value names its key by id (the first 8 bytes of SHA-256 over the key, not the key),
 * and the Redis key it is stored under is authenticated data: a value copied to another key
 * does not open.
 *
 *   "pps1" | key id (8) | IV (12) | tag (16) | ciphertext
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const MAGIC = Buffer.from('pps1');
const ID_LEN = 8;
const IV_LEN = 12;
const TAG_LEN = 16;
const HEADER = MAGIC.length + ID_LEN + IV_LEN + TAG_LEN;
const MIN_PASSPHRASE = 32;

export interface SecretKey {
  /** 16 hex digits naming the key in sealed values and logs (never the key itself). */
  id: string;
  key: Buffer;
}

/** Keys of a secret file's text, first = sealing key; throws naming the line that is wrong. */
export function parseSecretKeys(text: string): SecretKey[] {
  const keys: SecretKey[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let key: Buffer;
    if (/^[0-9a-fA-F]{64}$/.test(line)) key = Buffer.from(line, 'hex');
    else if (line.length >= MIN_PASSPHRASE)
      key = Buffer.from(hkdfSync('sha256', line, 'phone-proxy cluster', 'secret-box v1', 32));
    else
      throw new Error(
        `line ${n + 1}: a key is 64 hex digits or a passphrase of at least ${MIN_PASSPHRASE} characters (try: openssl rand -hex 32)`,
      );
    keys.push({ id: keyId(key), key });
  });
  if (keys.length === 0) throw new Error('holds no key (one line of 64 hex digits: openssl rand -hex 32)');
  return keys;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, ID_LEN).toString('hex');
}

export class SecretBox {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly SecretKey[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** Id of the sealing key. */
  get currentId(): string {
    return (this.keys[0] as SecretKey).id;
  }

  /** `context` (the Redis key) is authenticated, not stored. */
  seal(plain: Buffer | string, context: string): Buffer {
    const k = this.keys[0] as SecretKey;
    const iv = randomBytes(IV_LEN);
    const c = createCipheriv('aes-256-gcm', k.key, iv, { authTagLength: TAG_LEN });
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([c.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), c.final()]);
    return Buffer.concat([MAGIC, Buffer.from(k.id, 'hex'), iv, c.getAuthTag(), body]);
  }

  /** Throws naming why a value does not open (unknown key id, tampered, wrong context). */
  open(sealed: Buffer, context: string): Buffer {
    if (sealed.length < HEADER || !sealed.subarray(0, MAGIC.length).equals(MAGIC))
      throw new Error('not a sealed value (bad header)');
    const ivAt = MAGIC.length + ID_LEN;
    const tagAt = ivAt + IV_LEN;
    const id = sealed.subarray(MAGIC.length, ivAt).toString('hex');
    const key = this.byId.get(id);
    if (!key) throw new Error(`sealed with key ${id}, which the secret file does not hold`);
    const iv = sealed.subarray(ivAt, tagAt);
    const tag = sealed.subarray(tagAt, HEADER);
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LEN });
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(tag);
    try {
      return Buffer.concat([d.update(sealed.subarray(HEADER)), d.final()]);
    } catch {
      throw new Error(`sealed value under key ${id} failed authentication (tampered, or stored under another key)`);
    }
  }

  /** Whether a sealed value uses an older key (to re-seal during rotation). */
  isStale(sealed: Buffer): boolean {
    return sealed.subarray(MAGIC.length, MAGIC.length + ID_LEN).toString('hex') !== this.currentId;
  }
}
