/** The CTL and signed-file toolkit: pure (bytes in, bytes out), no sockets, no files. */
export { type CertificateFields, certificateFields, signerIdentity } from './certificate';
export {
  type BuildCtlOptions,
  buildCtl,
  CTL_FILE_NAME,
  CTL_FUNCTIONS,
  type CtlFunction,
  type CtlRecord,
  type CtlRecordInput,
  certificateHash,
  encodeRecord,
  type ParsedCtl,
  parseCtl,
  recordFromCertificate,
  verifyCtl,
  wouldPhoneAccept,
} from './ctl-file';
export { exportSast, importSast, SAST_NAME, type SastEntry, SastImportError, sastName } from './sast-p12';
export { type ParsedSignedFile, parseSignedFile, signFile, type TrustedCert, verifySignedFile } from './sgn';
export {
  buildSignedFile,
  DIGEST_CODE,
  type Digest,
  parseSignedHeader,
  SIGNABLE_RSA_BITS,
  SIGNING_DIGESTS,
  type SignedHeader,
  type Signer,
  signedBytes,
  signerVersionFor,
  unsignableDigest,
  unsignableKey,
  type Verdict,
} from './signed-header';
export { decodeItems, decodeTlv, encodeTlv, TlvError, type TlvErrorCode, type TlvItem } from './tlv';
