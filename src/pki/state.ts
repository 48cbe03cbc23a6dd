/**
 * The state directory: generated keys and certificates that must survive restarts.
 *
 *   <dir>/                       0700
 *     keys/<trustpoint>.key.pem  0600  generated trustpoints (enroll: self | local-ca)
 *     certs/<trustpoint>.crt.pem 0644
 *     sast/<sast-name>.key.pem   0600  _internal_<ctl-name>_SAST_<n>
 *     sast/<sast-name>.crt.pem   0644
 *     ldc/ldc.key.pem            0600  the key pair every LDC is minted for
 *
 * openState() generates whatever is missing and reuses the rest; a key without its
 * certificate (or the reverse), an unreadable file or a key that does not match its
 * certificate is a StateError naming the file — never silently replaced, since a new SAST
 * or TFTP key would make phones reject our CTL and configuration files.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parseCtl, SAST_NAME, type SastEntry, sastName, unsignableKey, verifyCtl } from '../../ctl';
import { type LoadedPolicy, policyRelative } from '../config/load-policy';
import type { Trustpoint } from '../config/policy-schema';
import type { ApplianceState, Credential } from '../contracts/state';
import { StateError } from '../errors';
import { createCertificate, generateRsaKey } from './x509';

/** SAST keys are not in the policy schema; 2048 is what the deployed phone base verifies. */
const SAST_KEY_BITS = 2048;

export function stateLayout(dir: string) {
  const root = path.resolve(dir);
  return {
    root,
    key: (name: string) => path.join(root, 'keys', `${name}.key.pem`),
    cert: (name: string) => path.join(root, 'certs', `${name}.crt.pem`),
    sastKey: (name: string) => path.join(root, 'sast', `${name}.key.pem`),
    sastCert: (name: string) => path.join(root, 'sast', `${name}.crt.pem`),
    sastDir: path.join(root, 'sast'),
    certsDir: path.join(root, 'certs'),
    ldcKey: path.join(root, 'ldc', 'ldc.key.pem'),
  };
}

function ensureDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes through a temporary file and a rename, so a crash never leaves half a key. */
function writeAtomic(file: string, text: string, mode: number): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode, flag: 'w' });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export const writeSecret = (file: string, pem: string) => writeAtomic(file, pem, 0o600);
export const writePublic = (file: string, pem: string) => writeAtomic(file, pem, 0o644);

function readText(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new StateError(`${file}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export function readKeyFile(file: string): string {
  const pem = readText(file, 'private key').toString('utf8');
  try {
    createPrivateKey(pem);
  } catch (err) {
    throw new StateError(
      `${file}: not a valid private key (${(err as Error).message}); restore it from a backup or delete it to generate a new one`,
    );
  }
  return pem;
}

/** PEM (first certificate of a bundle) or DER; `expiry` rejects certificates outside their validity. */
export function readCertificateFile(file: string, now = new Date()): { certPem: string; cert: X509Certificate } {
  const bytes = readText(file, 'certificate');
  let cert: X509Certificate;
  try {
    const text = bytes.toString('latin1');
    const pem = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
    cert = new X509Certificate(pem ?? bytes);
  } catch (err) {
    throw new StateError(`${file}: not a PEM or DER X.509 certificate (${(err as Error).message})`);
  }
  if (now.getTime() > Date.parse(cert.validTo))
    throw new StateError(`${file}: certificate ${cert.subject.replace(/\n/g, ',')} expired on ${cert.validTo}`);
  if (now.getTime() < Date.parse(cert.validFrom))
    throw new StateError(
      `${file}: certificate ${cert.subject.replace(/\n/g, ',')} is not valid before ${cert.validFrom}`,
    );
  return { certPem: cert.toString(), cert };
}

/** `role` says where the policy uses the trustpoint to sign, e.g. `ctl-file cucm-tftp record`. */
export function checkSigningKey(name: string, role: string, cert: X509Certificate): void {
  const key = cert.publicKey;
  const why = unsignableKey(key.asymmetricKeyType === 'rsa' ? key.asymmetricKeyDetails?.modulusLength : undefined);
  if (why) throw new StateError(`trustpoint "${name}" (${role}) cannot sign configuration files: its key is ${why}`);
}

function checkPair(keyFile: string, keyPem: string, certFile: string, cert: X509Certificate): void {
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new StateError(`${keyFile}: the private key does not match certificate ${certFile}`);
  }
}

/** Loads key + certificate, or creates both when neither exists. */
async function loadOrCreate(
  name: string,
  keyFile: string,
  certFile: string,
  create: () => Promise<{ keyPem: string; certPem: string }>,
): Promise<Credential> {
  const haveKey = existsSync(keyFile);
  const haveCert = existsSync(certFile);
  if (haveKey !== haveCert) {
    const [present, missing] = haveKey ? [keyFile, certFile] : [certFile, keyFile];
    throw new StateError(`${present}: ${missing} is missing; restore it, or delete both to generate a new pair`);
  }
  if (haveKey) {
    const keyPem = readKeyFile(keyFile);
    const { certPem, cert } = readCertificateFile(certFile);
    checkPair(keyFile, keyPem, certFile, cert);
    return { name, keyPem, certPem, cert };
  }
  const made = await create();
  writeSecret(keyFile, made.keyPem);
  writePublic(certFile, made.certPem);
  return { name, ...made, cert: new X509Certificate(made.certPem) };
}

async function selfSigned(subject: string, bits: number, ca: boolean): Promise<{ keyPem: string; certPem: string }> {
  const keyPem = await generateRsaKey(bits);
  return { keyPem, certPem: createCertificate({ subject, subjectKeyPem: keyPem, ca }) };
}

function generatedTrustpoint(dir: string, tp: Trustpoint): Promise<Credential> {
  const layout = stateLayout(dir);
  const subject = tp.subject ?? `CN=${tp.name}`;
  return loadOrCreate(tp.name, layout.key(tp.name), layout.cert(tp.name), () =>
    selfSigned(subject, tp['key-size'], tp.enroll === 'local-ca'),
  );
}

function importedTrustpoint(loaded: LoadedPolicy, tp: Trustpoint) {
  const certFile = policyRelative(loaded, tp.certificate ?? '');
  const { certPem, cert } = readCertificateFile(certFile);
  if (!tp.key) return { name: tp.name, certPem, cert };
  const keyFile = policyRelative(loaded, tp.key);
  const keyPem = readKeyFile(keyFile);
  checkPair(keyFile, keyPem, certFile, cert);
  return { name: tp.name, certPem, cert, keyPem };
}

function sastSubject(loaded: LoadedPolicy, name: string): string {
  return `CN=${name},OU=SAST,O=${loaded.policy.name}`;
}

/** The cluster CTL named by ctl-file.import: verified, its certificates become trust anchors. */
export function readImportedCtl(loaded: LoadedPolicy) {
  const imp = loaded.policy['ctl-file'].import;
  if (!imp) return undefined;
  const file = policyRelative(loaded, imp.file);
  const bytes = readText(file, 'CTL file');
  let ctl: ReturnType<typeof parseCtl>;
  try {
    ctl = parseCtl(bytes);
  } catch (err) {
    throw new StateError(`${file}: not a valid CTL file (${(err as Error).message})`);
  }
  const v = verifyCtl(ctl);
  if (!v.ok) throw new StateError(`${file}: CTL signature check failed (${v.reason})`);
  return { file, ctl, carry: imp.carry };
}

export async function openState(dir: string, loaded: LoadedPolicy): Promise<ApplianceState> {
  const layout = stateLayout(dir);
  const p = loaded.policy;
  const ctlName = p['ctl-file'].name;
  const sastCount = p['ctl-file']['sast-count'];
  const tls = p['tls-proxy'];

  // Files named in the policy first: their errors come before seconds of key generation.
  const imported = p.trustpoints.filter((tp) => !tp.enroll).map((tp) => importedTrustpoint(loaded, tp));
  for (const r of p['ctl-file'].records) {
    const tp = imported.find((t) => t.name === r.trustpoint);
    if (tp && (r.function === 'tftp' || r.function === 'cucm-tftp'))
      checkSigningKey(tp.name, `ctl-file ${r.function} record`, tp.cert);
  }
  const importedCtl = readImportedCtl(loaded);
  ensureDir(layout.root);

  // Independent key generations run side by side (node:crypto uses its thread pool); all
  // settle before the first error is reported, so nothing is still writing afterwards.
  const [generated, sast, ldcKeyPem] = await settleAll([
    settleAll(p.trustpoints.filter((tp) => tp.enroll).map((tp) => generatedTrustpoint(dir, tp))),
    settleAll(
      Array.from({ length: sastCount }, (_, n) => {
        const name = sastName(ctlName, n);
        return loadOrCreate(name, layout.sastKey(name), layout.sastCert(name), () =>
          selfSigned(sastSubject(loaded, name), SAST_KEY_BITS, false),
        );
      }),
    ),
    tls['ldc-issuer'] ? loadOrCreateKey(layout.ldcKey, tls['ldc-key-size']) : Promise.resolve(undefined),
  ] as const);

  const byName: ApplianceState['trustpoints'] = new Map();
  for (const tp of [...imported, ...generated].sort(
    (a, b) => p.trustpoints.findIndex((t) => t.name === a.name) - p.trustpoints.findIndex((t) => t.name === b.name),
  )) {
    byName.set(tp.name, tp);
  }

  const clientTrustAnchors = tls['client-trustpoints']
    .map((n) => byName.get(n)?.certPem)
    .filter((c): c is string => !!c);
  importedCtl?.ctl.records.forEach((r, n) => {
    if (r.function === 'sast' || !r.certificate) return;
    const cert = new X509Certificate(r.certificate);
    byName.set(`ctl-import-${r.function}-${n}`, {
      name: `ctl-import-${r.function}-${n}`,
      certPem: cert.toString(),
      cert,
    });
    // CAPF issues the phones' LSCs: phones' certificates chain to it.
    if (r.function === 'capf') clientTrustAnchors.push(cert.toString());
  });

  let ldcIssuer: Credential | undefined;
  if (tls['ldc-issuer']) {
    const tp = byName.get(tls['ldc-issuer']);
    if (!tp?.keyPem)
      throw new StateError(
        `trustpoint "${tls['ldc-issuer']}" (tls-proxy.ldc-issuer) has no private key to sign LDCs with`,
      );
    ldcIssuer = { name: tp.name, certPem: tp.certPem, cert: tp.cert, keyPem: tp.keyPem };
  }
  return { dir: layout.root, trustpoints: byName, sast, ldcIssuer, ldcKeyPem, clientTrustAnchors };
}

async function settleAll<T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

async function loadOrCreateKey(file: string, bits: number): Promise<string> {
  if (existsSync(file)) return readKeyFile(file);
  const keyPem = await generateRsaKey(bits);
  writeSecret(file, keyPem);
  return keyPem;
}

/** SAST credentials present in a state directory, without generating anything (for export). */
export function readSastCredentials(dir: string): Credential[] {
  const layout = stateLayout(dir);
  if (!existsSync(layout.sastDir)) return [];
  return readdirSync(layout.sastDir)
    .map((f) => f.match(/^(.+)\.key\.pem$/)?.[1])
    .filter((name): name is string => !!name && SAST_NAME.test(name))
    .sort()
    .map((name) => {
      const keyFile = layout.sastKey(name);
      const keyPem = readKeyFile(keyFile);
      const { certPem, cert } = readCertificateFile(layout.sastCert(name));
      checkPair(keyFile, keyPem, layout.sastCert(name), cert);
      return { name, keyPem, certPem, cert };
    });
}

/**
 * Installs imported SAST key pairs, all or nothing: every file is staged first and only
 * then renamed into place, so a failure leaves the directory as it was.
 */
export function installSast(dir: string, entries: SastEntry[]): string[] {
  const layout = stateLayout(dir);
  ensureDir(layout.root);
  const staged: [string, string][] = [];
  try {
    for (const e of entries) {
      for (const [file, text, mode] of [
        [layout.sastKey(e.name), e.keyPem, 0o600],
        [layout.sastCert(e.name), e.certPem, 0o644],
      ] as const) {
        ensureDir(path.dirname(file));
        const tmp = `${file}.import-${process.pid}`;
        writeFileSync(tmp, text, { mode });
        chmodSync(tmp, mode);
        staged.push([tmp, file]);
      }
    }
  } catch (err) {
    for (const [tmp] of staged) if (existsSync(tmp)) unlinkSync(tmp);
    throw err;
  }
  for (const [tmp, file] of staged) renameSync(tmp, file);
  return entries.map((e) => e.name);
}

/** Every certificate the state directory holds (trustpoints and SASTs), for verifying .sgn files. */
export function stateCertificates(dir: string): X509Certificate[] {
  const layout = stateLayout(dir);
  const out: X509Certificate[] = [];
  for (const folder of [layout.certsDir, layout.sastDir]) {
    if (!existsSync(folder)) continue;
    for (const f of readdirSync(folder).filter((n) => n.endsWith('.crt.pem'))) {
      out.push(readCertificateFile(path.join(folder, f)).cert);
    }
  }
  return out;
}

/**
 * Imported certificates that sign configuration files, when already present: their key size
 * is only known from the file, and one the signed header cannot describe fails every .sgn.
 */
export function signerProblems(loaded: LoadedPolicy): string[] {
  const problems: string[] = [];
  for (const r of loaded.policy['ctl-file'].records) {
    if (r.function !== 'tftp' && r.function !== 'cucm-tftp') continue;
    const tp = loaded.policy.trustpoints.find((t) => t.name === r.trustpoint);
    if (!tp?.certificate || tp.enroll) continue;
    const file = policyRelative(loaded, tp.certificate);
    if (!existsSync(file)) continue;
    try {
      checkSigningKey(tp.name, `ctl-file ${r.function} record`, readCertificateFile(file).cert);
    } catch (err) {
      if (!(err instanceof StateError)) throw err;
      problems.push(`${file}: ${err.message}`);
    }
  }
  return problems;
}
