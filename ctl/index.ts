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
export {
  CTL_ERROR_CLASSES,
  type CtlErrorCode,
  CtlToolkitError,
  SastImportError,
  type SastImportReason,
  TlvError,
  type TlvErrorReason,
} from './errors';
export { exportSast, importSast, SAST_NAME, type SastEntry, sastName } from './sast-p12';
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
export { decodeItems, decodeTlv, encodeTlv, type TlvItem } from './tlv';
