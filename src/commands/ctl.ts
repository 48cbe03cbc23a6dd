/**
 * `phone-proxy ctl show FILE` | `ctl build [--policy P] [--state D] --out FILE`
 * | `ctl accept --installed OLD --new NEW`
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { certificateHash, type ParsedCtl, parseCtl, verifyCtl, wouldPhoneAccept } from '../../ctl';
import { loadPolicy } from '../config/load-policy';
import { CommandError } from '../errors';
import { buildApplianceCtl } from '../pki/ctl-instance';
import { openState } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR, guarded, say } from './io';

const USAGE =
  'usage: phone-proxy ctl show FILE [--json] | ctl build [--policy FILE] [--state DIR] --out FILE | ctl accept --installed OLD --new NEW';

function readCtl(file: string): ParsedCtl {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CommandError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    return parseCtl(bytes);
  } catch (err) {
    throw new CommandError(`${file}: not a valid CTL file: ${(err as Error).message}`, 2, { cause: err });
  }
}

const hex = (b: Buffer) => b.toString('hex');
const v = (x: { major: number; minor: number } | undefined) => (x ? `${x.major}.${x.minor}` : '-');

/** Text in the spirit of the ASA's `show ctl-file`: header, then one block per record. */
export function describeCtl(file: string, ctl: ParsedCtl, verdict: { ok: boolean; reason: string }): string[] {
  const h = ctl.header;
  const lines = [
    `CTL file ${file}: ${ctl.records.length} record(s), ${ctl.bytes.length} bytes`,
    `Header: version ${v(h.version)}, length ${h.headerLength}, signer version ${v(h.signerVersion)}`,
    `  Signer name:    ${h.signerName}`,
    `  Signer serial:  ${hex(h.serial)}`,
    `  Signer issuer:  ${h.caName}`,
    `  Digest:         ${h.digest?.toUpperCase() ?? `unknown (${h.digestCode})`}, RSA ${h.keyBits ?? `code ${h.modulusCode}`}`,
    `  File name:      ${h.fileName}`,
    `  Signed at:      ${new Date(h.timestamp * 1000).toISOString()}`,
  ];
  ctl.records.forEach((r, n) => {
    lines.push(
      `Record ${n + 1}: ${r.function.toUpperCase()} (function ${r.functionCode})`,
      `  Subject:        ${r.subject}`,
      `  Issuer:         ${r.issuer}`,
      `  Serial:         ${hex(r.serial)}`,
      `  IP address:     ${r.ip ?? '-'}`,
      `  DNS name:       ${r.dnsName ?? '-'}`,
      `  Cert hash SHA1: ${certificateHash(r)}`,
    );
  });
  lines.push(verdict.ok ? `Signature: OK, ${verdict.reason}` : `Signature: FAILED, ${verdict.reason}`);
  return lines;
}

async function show(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new CommandError(USAGE);
  const ctl = readCtl(file);
  const verdict = verifyCtl(ctl);
  if (values.json) {
    const h = ctl.header;
    const data = {
      file,
      verified: verdict.ok,
      reason: verdict.reason,
      header: { ...h, serial: hex(h.serial), signature: hex(h.signature) },
      records: ctl.records.map((r) => ({
        function: r.function,
        subject: r.subject,
        issuer: r.issuer,
        serial: hex(r.serial),
        ip: r.ip,
        dnsName: r.dnsName,
        certificateSha1: certificateHash(r),
      })),
    };
    say(io.stdout, JSON.stringify(data, null, 2));
  } else {
    say(io.stdout, describeCtl(file, ctl, verdict).join('\n'));
  }
  return verdict.ok ? 0 : 1;
}

async function build(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      policy: { type: 'string', default: DEFAULT_POLICY },
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      out: { type: 'string' },
    },
  });
  if (!values.out) throw new CommandError(`--out FILE is required; ${USAGE}`);
  const loaded = loadPolicy(values.policy);
  const state = await openState(values.state, loaded);
  const bytes = buildApplianceCtl(loaded, state);
  writeFileSync(values.out, bytes);
  const ctl = parseCtl(bytes);
  say(
    io.stdout,
    `wrote ${values.out}: ${ctl.records.length} records, ${bytes.length} bytes, signed by ${ctl.header.signerName}`,
  );
  return 0;
}

async function accept(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({ args, options: { installed: { type: 'string' }, new: { type: 'string' } } });
  if (!values.installed || !values.new) throw new CommandError(`--installed OLD and --new NEW are required; ${USAGE}`);
  const verdict = wouldPhoneAccept(readCtl(values.installed), readCtl(values.new));
  say(io.stdout, `${verdict.accept ? 'ACCEPT' : 'REFUSE'}: ${verdict.reason}`);
  return verdict.accept ? 0 : 1;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  return guarded(io, 'ctl', async () => {
    const [sub, ...rest] = argv;
    if (sub === 'show') return show(rest, io);
    if (sub === 'build') return build(rest, io);
    if (sub === 'accept') return accept(rest, io);
    throw new CommandError(USAGE);
  });
}
