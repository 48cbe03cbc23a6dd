/**
 * `phone-proxy sign FILE [--digest sha1|sha512] [--state DIR] [--policy FILE] [--out F]`
 * writes FILE.sgn signed with the TFTP (or CCM+TFTP) key;
 * `phone-proxy sign --verify FILE.sgn [--cert PEM]... [--ctl CTLFile.tlv] [--state DIR]` checks one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Digest,
  parseCtl,
  SIGNING_DIGESTS,
  signFile,
  type TrustedCert,
  unsignableDigest,
  verifySignedFile,
} from '../../ctl';
import { loadPolicy } from '../config/load-policy';
import { CommandError } from '../errors';
import { tftpSigner } from '../pki/ctl-instance';
import { openState, readCertificateFile, stateCertificates } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR, guarded, say } from './io';

const USAGE =
  'usage: phone-proxy sign FILE [--digest sha1|sha512] [--state DIR] [--policy FILE] [--out FILE.sgn] | sign --verify FILE.sgn [--cert PEM]... [--ctl CTLFile.tlv] [--state DIR]';

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CommandError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** Whom a phone trusts for configuration files: the CTL's TFTP and CCM+TFTP records. */
function trustedFromCtl(file: string): TrustedCert[] {
  try {
    return parseCtl(read(file))
      .records.filter((r) => (r.function === 'tftp' || r.function === 'cucm-tftp') && r.certificate)
      .map((r) => r.certificate as Buffer);
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(`${file}: not a valid CTL file: ${(err as Error).message}`, 2, { cause: err });
  }
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  return guarded(io, 'sign', async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        verify: { type: 'boolean' },
        digest: { type: 'string', default: 'sha1' },
        state: { type: 'string', default: DEFAULT_STATE_DIR },
        policy: { type: 'string', default: DEFAULT_POLICY },
        out: { type: 'string' },
        cert: { type: 'string', multiple: true },
        ctl: { type: 'string' },
      },
    });
    const file = positionals[0];
    if (!file || positionals.length > 1) throw new CommandError(USAGE);

    if (values.verify) {
      const trusted: TrustedCert[] = [
        ...(values.cert ?? []).map((c) => readCertificateFile(c).cert),
        ...(values.ctl ? trustedFromCtl(values.ctl) : []),
      ];
      if (trusted.length === 0) trusted.push(...stateCertificates(values.state));
      if (trusted.length === 0)
        throw new CommandError(`no trusted certificates: give --cert or --ctl, or a --state DIR with keys`);
      let verdict: ReturnType<typeof verifySignedFile>;
      try {
        verdict = verifySignedFile(read(file), trusted);
      } catch (err) {
        if (err instanceof CommandError) throw err;
        throw new CommandError(`${file}: not a valid signed file: ${(err as Error).message}`, 1, { cause: err });
      }
      say(io.stdout, `${file}: ${verdict.ok ? 'OK' : 'FAILED'}, ${verdict.reason}`);
      return verdict.ok ? 0 : 1;
    }

    const digest = values.digest as Digest;
    const badDigest = unsignableDigest(digest);
    if (badDigest)
      throw new CommandError(`--digest ${digest}: must be one of ${SIGNING_DIGESTS.join(', ')}; ${badDigest}`);
    const content = read(file);
    const loaded = loadPolicy(values.policy);
    const signer = tftpSigner(loaded, await openState(values.state, loaded));
    const out = values.out ?? `${file}.sgn`;
    // The header carries the unsigned name as served: the phone asks for X.sgn and checks X.
    writeFileSync(out, signFile(content, path.basename(file), signer, digest));
    say(io.stdout, `wrote ${out}: ${content.length} bytes signed by ${signer.name} (${digest})`);
    return 0;
  });
}
