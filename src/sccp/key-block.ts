/**
 * The 48-byte media encryption key block (docs/sccp.md §4.1) carried by OpenReceiveChannel
 * (the phone's receive key) and StartMediaTransmission (its transmit key):
 *
 *   0 algorithmID u32 | 4 keylen u16 | 6 saltlen u16 | 8 key[16] | 24 salt[16] | 40 isMKIPresent u32 | 44 keyDerivationRate u32
 *
 * Key bytes are secret: a KeyBlock never prints them (toJSON and util.inspect show lengths only).
 */
import { inspect } from 'node:util';
import type { SrtpProfile } from '../contracts/media';

export const KEY_BLOCK_BYTES = 48;
const KEY_FIELD = 16;
const SALT_FIELD = 16;

/** algorithmID values (Wireshark's MediaEncryptionAlgorithmType). */
export const SCCP_ALGORITHM = {
  none: 0,
  AES_CM_128_HMAC_SHA1_32: 1,
  AES_CM_128_HMAC_SHA1_80: 2,
  F8_128_HMAC_SHA1_32: 3,
  F8_128_HMAC_SHA1_80: 4,
} as const;

/** algorithmID → SRTP profile the media engine implements (F8 and the rest are not). */
const PROFILE_OF_ALGORITHM: Record<number, SrtpProfile> = {
  1: 'AES_CM_128_HMAC_SHA1_32',
  2: 'AES_CM_128_HMAC_SHA1_80',
};

/** The profiles SCCP can express, with their algorithmID. 128-bit key, 112-bit salt (RFC 3711). */
export const SCCP_PROFILES = {
  AES_CM_128_HMAC_SHA1_32: { algorithmId: 1, keyLength: 16, saltLength: 14 },
  AES_CM_128_HMAC_SHA1_80: { algorithmId: 2, keyLength: 16, saltLength: 14 },
} as const;
export type SccpProfile = keyof typeof SCCP_PROFILES;

export function profileOfAlgorithm(algorithmId: number): SrtpProfile | undefined {
  return PROFILE_OF_ALGORITHM[algorithmId];
}

export function isSccpProfile(p: string): p is SccpProfile {
  return Object.hasOwn(SCCP_PROFILES, p);
}

export class KeyBlock {
  constructor(
    public algorithmId: number,
    public keyLength: number,
    public saltLength: number,
    /** The 16-byte key field (unused tail zero). */
    public key: Buffer,
    /** The 16-byte salt field (unused tail zero). */
    public salt: Buffer,
    public isMkiPresent: number,
    public keyDerivationRate: number,
  ) {}

  static none(): KeyBlock {
    return new KeyBlock(0, 0, 0, Buffer.alloc(KEY_FIELD), Buffer.alloc(SALT_FIELD), 0, 0);
  }

  /** A block for an SRTP master key || master salt (the media service's key format). */
  static forProfile(profile: SccpProfile, masterKeySalt: Buffer): KeyBlock {
    const p = SCCP_PROFILES[profile];
    if (masterKeySalt.length !== p.keyLength + p.saltLength) {
      throw new Error(`${profile} needs ${p.keyLength + p.saltLength} key+salt bytes, got ${masterKeySalt.length}`);
    }
    const key = Buffer.alloc(KEY_FIELD);
    const salt = Buffer.alloc(SALT_FIELD);
    masterKeySalt.copy(key, 0, 0, p.keyLength);
    masterKeySalt.copy(salt, 0, p.keyLength);
    return new KeyBlock(p.algorithmId, p.keyLength, p.saltLength, key, salt, 0, 0);
  }

  static decode(buf: Buffer, at: number): KeyBlock {
    const keyLength = buf.readUInt16LE(at + 4);
    const saltLength = buf.readUInt16LE(at + 6);
    if (keyLength > KEY_FIELD) throw new Error(`key block keylen ${keyLength} exceeds ${KEY_FIELD}`);
    if (saltLength > SALT_FIELD) throw new Error(`key block saltlen ${saltLength} exceeds ${SALT_FIELD}`);
    return new KeyBlock(
      buf.readUInt32LE(at),
      keyLength,
      saltLength,
      Buffer.from(buf.subarray(at + 8, at + 24)),
      Buffer.from(buf.subarray(at + 24, at + 40)),
      buf.readUInt32LE(at + 40),
      buf.readUInt32LE(at + 44),
    );
  }

  encode(buf: Buffer, at: number): void {
    buf.writeUInt32LE(this.algorithmId >>> 0, at);
    buf.writeUInt16LE(this.keyLength, at + 4);
    buf.writeUInt16LE(this.saltLength, at + 6);
    buf.fill(0, at + 8, at + 40);
    this.key.copy(buf, at + 8, 0, KEY_FIELD);
    this.salt.copy(buf, at + 24, 0, SALT_FIELD);
    buf.writeUInt32LE(this.isMkiPresent >>> 0, at + 40);
    buf.writeUInt32LE(this.keyDerivationRate >>> 0, at + 44);
  }

  get encrypted(): boolean {
    return this.algorithmId !== SCCP_ALGORITHM.none;
  }

  /** The SRTP profile, when the media engine implements this algorithm. */
  get profile(): SrtpProfile | undefined {
    return profileOfAlgorithm(this.algorithmId);
  }

  /** master key || master salt as the media service takes it. */
  masterKeySalt(): Buffer {
    return Buffer.concat([this.key.subarray(0, this.keyLength), this.salt.subarray(0, this.saltLength)]);
  }

  /** What logs and JSON may show: never the key or salt bytes. */
  describe(): { algorithmId: number; keyLength: number; saltLength: number } {
    return { algorithmId: this.algorithmId, keyLength: this.keyLength, saltLength: this.saltLength };
  }

  toJSON(): object {
    return this.describe();
  }

  [inspect.custom](): string {
    return `KeyBlock(${JSON.stringify(this.describe())})`;
  }
}
