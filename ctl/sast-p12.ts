/**
 * SAST key export/import as PKCS#12, so a replacement box can sign CTLs the phones accept.
 *
 * node-forge builds the bags and encrypts the keys (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC),
 * but its writer hard-codes an HMAC-SHA1 integrity MAC, so the PFX is assembled here and
 * the MAC computed with SHA-256 (RFC 7292 appendix B key derivation, which forge provides).
 * Reading goes through forge after our own MAC check, so either MAC digest is accepted.
 * Passphrases: UTF-16 for the PKCS#12 MAC key, UTF-8 bytes for PBKDF2, as OpenSSL does.
 */
import {
  createCipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  pbkdf2Sync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import { fromDerOpaque } from './certificate';
import { SastImportError } from './errors';
import { unsignableKey } from './signed-header';

const { asn1, pki } = forge;
type Asn1 = forge.asn1.Asn1;

export interface SastEntry {
  /** `_internal_<ctl-name>_SAST_<n>` */
  name: string;
  certPem: string;
  keyPem: string;
}

export const SAST_NAME = /^_internal_(.+)_SAST_(\d+)$/;

export function sastName(ctlName: string, n: number): string {
  return `_internal_${ctlName}_SAST_${n}`;
}

/** PBKDF2 for the key bags runs natively (encryptPkcs8); forge's JavaScript takes ~0.5 s to read them back. */
const KEY_ITERATIONS = 100_000;
/** The PKCS#12 MAC key derivation runs in forge's JavaScript: ~150 ms for 50 000 on our machine. */
const MAC_ITERATIONS = 50_000;

const oid = (o: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
const seq = (v: Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, v);
const set = (v: Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, v);
const octets = (bytes: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
const explicit0 = (v: Asn1) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [v]);
const der = (node: Asn1) => asn1.toDer(node).getBytes();
const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_HMAC_SHA256 = '1.2.840.113549.2.9';
const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';
const integer = (n: number) =>
  asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const asn1Null = () => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '');
/** ContentInfo of type data wrapping DER bytes. */
const dataContent = (bytes: string) => seq([oid(pki.oids.data as string), explicit0(octets(bytes))]);

function bagAttributes(name: string, localKeyId: string): Asn1 {
  return set([
    seq([oid(pki.oids.localKeyId as string), set([octets(localKeyId)])]),
    seq([
      oid(pki.oids.friendlyName as string),
      set([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, name)]),
    ]),
  ]);
}

function macData(authSafe: string, passphrase: string): Asn1 {
  const salt = randomBytes(16).toString('binary');
  const md = forge.md.sha256.create();
  const key = forge.pkcs12.generateKey(passphrase, forge.util.createBuffer(salt), 3, MAC_ITERATIONS, 32, md);
  const hmac = forge.hmac.create();
  hmac.start(md, key);
  hmac.update(authSafe);
  return seq([
    seq([seq([oid(pki.oids.sha256 as string), asn1Null()]), octets(hmac.digest().getBytes())]),
    octets(salt),
    integer(MAC_ITERATIONS),
  ]);
}

/**
 * EncryptedPrivateKeyInfo with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), computed with
 * node:crypto: forge's PBKDF2 runs in JavaScript here (~0.5 s for 100 000 rounds).
 */
function encryptPkcs8(pkcs8: Buffer, passphrase: string): Asn1 {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, KEY_ITERATIONS, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
  const b = (x: Buffer) => x.toString('binary');
  return seq([
    seq([
      oid(OID_PBES2),
      seq([
        seq([
          oid(OID_PBKDF2),
          seq([octets(b(salt)), integer(KEY_ITERATIONS), seq([oid(OID_HMAC_SHA256), asn1Null()])]),
        ]),
        seq([oid(OID_AES256_CBC), octets(b(iv))]),
      ]),
    ]),
    octets(b(encrypted)),
  ]);
}

/** One PKCS#12 holding every SAST key and certificate, named and paired by localKeyId. */
export function exportSast(entries: SastEntry[], passphrase: string): Buffer {
  if (entries.length === 0) throw new Error('no SAST keys to export');
  if (passphrase.length === 0) throw new Error('empty passphrase');
  const certBags: Asn1[] = [];
  const keyBags: Asn1[] = [];
  for (const e of entries) {
    const certDer = Buffer.from(new X509Certificate(e.certPem).raw);
    const localKeyId = createHash('sha1').update(certDer).digest().toString('binary');
    const attrs = bagAttributes(e.name, localKeyId);
    certBags.push(
      seq([
        oid(pki.oids.certBag as string),
        explicit0(seq([oid(pki.oids.x509Certificate as string), explicit0(octets(certDer.toString('binary')))])),
        attrs,
      ]),
    );
    const encrypted = encryptPkcs8(createPrivateKey(e.keyPem).export({ format: 'der', type: 'pkcs8' }), passphrase);
    keyBags.push(seq([oid(pki.oids.pkcs8ShroudedKeyBag as string), explicit0(encrypted), attrs]));
  }
  const authSafe = der(seq([dataContent(der(seq(certBags))), dataContent(der(seq(keyBags)))]));
  const pfx = seq([integer(3), dataContent(authSafe), macData(authSafe, passphrase)]);
  return Buffer.from(der(pfx), 'binary');
}

const MAC_DIGESTS: Record<string, { md: () => forge.md.MessageDigest; bytes: number }> = {
  [pki.oids.sha1 as string]: { md: () => forge.md.sha1.create(), bytes: 20 },
  [pki.oids.sha256 as string]: { md: () => forge.md.sha256.create(), bytes: 32 },
  [pki.oids.sha384 as string]: { md: () => forge.md.sha384.create(), bytes: 48 },
  [pki.oids.sha512 as string]: { md: () => forge.md.sha512.create(), bytes: 64 },
};

/** Checks the PFX MAC with the passphrase; throws WRONG_PASSPHRASE on mismatch. */
function checkMac(pfx: Asn1, passphrase: string): void {
  const [, authSafe, mac] = pfx.value as Asn1[];
  if (!mac) return;
  try {
    const [digestInfo, salt, iterations] = mac.value as Asn1[];
    const [alg, digest] = (digestInfo as Asn1).value as Asn1[];
    const algOid = asn1.derToOid(((alg as Asn1).value as Asn1[])[0]?.value as string);
    const spec = MAC_DIGESTS[algOid];
    if (!spec) throw new SastImportError('NOT_PKCS12', `PKCS#12 MAC digest ${algOid} is not supported`);
    const count = iterations ? Number.parseInt(forge.util.bytesToHex(iterations.value as string), 16) : 1;
    const content = ((((authSafe as Asn1).value as Asn1[])[1] as Asn1).value as Asn1[])[0] as Asn1;
    const md = spec.md();
    const key = forge.pkcs12.generateKey(
      passphrase,
      forge.util.createBuffer((salt as Asn1).value as string),
      3,
      count,
      spec.bytes,
      md,
    );
    const hmac = forge.hmac.create();
    hmac.start(md, key);
    hmac.update(content.value as string);
    if (hmac.digest().getBytes() !== (digest as Asn1).value) {
      throw new SastImportError('WRONG_PASSPHRASE', 'wrong passphrase (the PKCS#12 integrity MAC does not verify)');
    }
  } catch (err) {
    if (err instanceof SastImportError) throw err;
    throw new SastImportError('NOT_PKCS12', `malformed PKCS#12 MAC: ${(err as Error).message}`);
  }
}

/**
 * Replaces each shrouded key bag held in a plain `data` ContentInfo by a key bag decrypted
 * with node:crypto (forge's PBKDF2 would run 100 000 rounds in JavaScript: seconds).
 * Anything else is left for forge.
 */
function decryptKeyBags(authSafeInfo: Asn1, passphrase: string): Asn1 {
  const dataOid = pki.oids.data as string;
  const shrouded = pki.oids.pkcs8ShroudedKeyBag as string;
  const contentOf = (info: Asn1): Asn1 | undefined => {
    const [type, wrapper] = info.value as Asn1[];
    const octetString = (wrapper?.value as Asn1[] | undefined)?.[0];
    if (!type || asn1.derToOid(type.value as string) !== dataOid || !octetString || octetString.constructed)
      return undefined;
    return octetString;
  };
  const outer = contentOf(authSafeInfo);
  if (!outer) return authSafeInfo;
  const infos = fromDerOpaque(Buffer.from(outer.value as string, 'binary'));
  for (const info of infos.value as Asn1[]) {
    const inner = contentOf(info);
    if (!inner) continue;
    const bags = fromDerOpaque(Buffer.from(inner.value as string, 'binary'));
    let changed = false;
    for (const bag of bags.value as Asn1[]) {
      const [bagId, bagValue] = bag.value as Asn1[];
      if (!bagId || !bagValue || asn1.derToOid(bagId.value as string) !== shrouded) continue;
      const encrypted = Buffer.from(der((bagValue.value as Asn1[])[0] as Asn1), 'binary');
      let pkcs8: Buffer;
      try {
        const key = createPrivateKey({
          key: encrypted,
          format: 'der',
          type: 'pkcs8',
          passphrase: Buffer.from(passphrase, 'utf8'),
        });
        pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
      } catch (err) {
        throw new SastImportError(
          'WRONG_PASSPHRASE',
          `a private key could not be decrypted: wrong passphrase? (${(err as Error).message})`,
        );
      }
      bagId.value = asn1.oidToDer(pki.oids.keyBag as string).getBytes();
      bagValue.value = [fromDerOpaque(pkcs8)];
      changed = true;
    }
    if (changed) inner.value = der(bags);
  }
  outer.value = der(infos);
  return authSafeInfo;
}

const firstAttr = (bag: forge.pkcs12.Bag, name: string): string | undefined =>
  bag.attributes?.[name]?.[0] as string | undefined;

/** Reads SAST key pairs out of a PKCS#12 (ours or OpenSSL's). Validates; writes nothing. */
export function importSast(p12: Buffer, passphrase: string): SastEntry[] {
  let pfx: Asn1;
  try {
    pfx = fromDerOpaque(p12);
  } catch (err) {
    throw new SastImportError('NOT_PKCS12', `not a PKCS#12 file: ${(err as Error).message}`);
  }
  checkMac(pfx, passphrase);
  // MAC checked above with the UTF-16 passphrase; forge gets the PFX without it, key bags
  // already decrypted, and the UTF-8 passphrase it needs for encrypted certificate bags.
  const withoutMac = seq([
    (pfx.value as Asn1[])[0] as Asn1,
    decryptKeyBags((pfx.value as Asn1[])[1] as Asn1, passphrase),
  ]);
  let parsed: forge.pkcs12.Pkcs12Pfx;
  try {
    parsed = forge.pkcs12.pkcs12FromAsn1(withoutMac, false, forge.util.encodeUtf8(passphrase));
  } catch (err) {
    const msg = (err as Error).message;
    if (/decrypt|Invalid password|padding/i.test(msg) && (pfx.value as Asn1[]).length < 3) {
      throw new SastImportError('WRONG_PASSPHRASE', `wrong passphrase (${msg})`);
    }
    throw new SastImportError('NOT_PKCS12', `not a readable PKCS#12 file: ${msg}`);
  }
  const keyBags = [
    ...(parsed.getBags({ bagType: pki.oids.pkcs8ShroudedKeyBag as string })[pki.oids.pkcs8ShroudedKeyBag as string] ??
      []),
    ...(parsed.getBags({ bagType: pki.oids.keyBag as string })[pki.oids.keyBag as string] ?? []),
  ];
  const certBags = parsed.getBags({ bagType: pki.oids.certBag as string })[pki.oids.certBag as string] ?? [];
  if (keyBags.length === 0) throw new SastImportError('NO_KEYS', 'the PKCS#12 file holds no private key');
  const out: SastEntry[] = [];
  for (const kb of keyBags) {
    if (!kb.key)
      throw new SastImportError('WRONG_PASSPHRASE', 'a private key in the PKCS#12 file could not be decrypted');
    const keyId = firstAttr(kb, 'localKeyId');
    const name = firstAttr(kb, 'friendlyName');
    const cb =
      certBags.find((c) => keyId !== undefined && firstAttr(c, 'localKeyId') === keyId) ??
      certBags.find((c) => name !== undefined && firstAttr(c, 'friendlyName') === name);
    const label = name ?? `key #${out.length + 1}`;
    if (!cb?.cert)
      throw new SastImportError('NO_KEYS', `${label}: no certificate paired with the key in the PKCS#12 file`);
    const keyPem = createPrivateKey(pki.privateKeyToPem(kb.key)).export({ format: 'pem', type: 'pkcs8' }) as string;
    const certPem = pki.certificateToPem(cb.cert).replace(/\r\n/g, '\n');
    const certKey = createPublicKey(certPem).export({ format: 'der', type: 'spki' });
    if (!createPublicKey(keyPem).export({ format: 'der', type: 'spki' }).equals(certKey)) {
      throw new SastImportError('KEY_MISMATCH', `${label}: the private key does not match its certificate`);
    }
    // A SAST signs the CTL: a key the header cannot describe would only fail at the next CTL build.
    const why = unsignableKey(createPublicKey(keyPem).asymmetricKeyDetails?.modulusLength);
    if (why) throw new SastImportError('UNSIGNABLE_KEY', `${label}: cannot sign a CTL: the key is ${why}`);
    out.push({ name: name ?? firstAttr(cb, 'friendlyName') ?? '', certPem, keyPem });
  }
  return out;
}
