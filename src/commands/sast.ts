/**
 * `phone-proxy sast export --out FILE.p12 [--state DIR]` and
 * `phone-proxy sast import FILE.p12 [FILE.p12 ...] [--state DIR] [--policy FILE] [--ctl INSTALLED.tlv]`.
 * The passphrase comes from --passphrase-file F, --passphrase-env VAR or stdin, never argv.
 * Import validates every key before writing any: a bad file changes nothing in the state.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { certificateFields, exportSast, importSast, parseCtl, SAST_NAME, type SastEntry } from '../../ctl';
import { loadPolicy } from '../config/load-policy';
import { CommandError } from '../errors';
import { installSast, readSastCredentials, stateLayout } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR, guarded, readPassphrase, say } from './io';

const USAGE =
  'usage: phone-proxy sast export --out FILE.p12 [--state DIR] | sast import FILE.p12 [FILE.p12 ...] [--state DIR] [--policy FILE] [--ctl INSTALLED.tlv]; passphrase from --passphrase-file F, --passphrase-env VAR or stdin';
const MIN_PASSPHRASE = 8;

const passphraseOptions = {
  'passphrase-file': { type: 'string' },
  'passphrase-env': { type: 'string' },
} as const;

async function exportCommand(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { out: { type: 'string' }, state: { type: 'string', default: DEFAULT_STATE_DIR }, ...passphraseOptions },
  });
  if (!values.out) throw new CommandError(`--out FILE.p12 is required; ${USAGE}`);
  const sast = readSastCredentials(values.state);
  if (sast.length === 0) {
    throw new CommandError(
      `no SAST keys in ${stateLayout(values.state).sastDir} (start the appliance or run ctl build first)`,
      1,
    );
  }
  const passphrase = await readPassphrase(values, io);
  if (passphrase.length < MIN_PASSPHRASE)
    throw new CommandError(`the passphrase must be at least ${MIN_PASSPHRASE} characters`);
  // Encrypted, but still the keys that sign every phone's trust list: owner-only.
  writeFileSync(values.out, exportSast(sast, passphrase), { mode: 0o600 });
  say(io.stdout, `wrote ${values.out}: ${sast.map((s) => s.name).join(', ')}`);
  return 0;
}

/** Checks names against the policy's CTL instance and, with --ctl, against the installed CTL's SAST records. */
function checkEntries(
  file: string,
  entries: SastEntry[],
  ctlName: string,
  sastCount: number,
  installed?: { file: string; bytes: Buffer },
) {
  const sastRecords = installed ? parseCtl(installed.bytes).records.filter((r) => r.function === 'sast') : undefined;
  for (const e of entries) {
    const m = e.name.match(SAST_NAME);
    if (!m)
      throw new CommandError(
        `${file}: key "${e.name || '(no friendlyName)'}" is not named _internal_<ctl-name>_SAST_<n>`,
        1,
      );
    if (m[1] !== ctlName) {
      throw new CommandError(
        `${file}: ${e.name} belongs to CTL instance "${m[1]}", the policy's ctl-file is named "${ctlName}"`,
        1,
      );
    }
    if (Number(m[2]) >= sastCount) {
      throw new CommandError(
        `${file}: ${e.name} is beyond the policy's sast-count ${sastCount} (SAST_0..SAST_${sastCount - 1})`,
        1,
      );
    }
    if (sastRecords && installed) {
      const f = certificateFields(e.certPem);
      if (!sastRecords.some((r) => r.serial.equals(f.serial) && r.publicKey.equals(f.publicKey))) {
        throw new CommandError(`${file}: ${e.name} does not match any SAST record of ${installed.file}`, 1);
      }
    }
  }
}

async function importCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      state: { type: 'string', default: DEFAULT_STATE_DIR },
      policy: { type: 'string', default: DEFAULT_POLICY },
      ctl: { type: 'string' },
      ...passphraseOptions,
    },
  });
  if (positionals.length === 0) throw new CommandError(USAGE);
  const loaded = loadPolicy(values.policy);
  const ctl = loaded.policy['ctl-file'];
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new CommandError(`${f}: cannot read (${(err as NodeJS.ErrnoException).code})`, 1);
    }
  };
  const installed = values.ctl ? { file: values.ctl, bytes: read(values.ctl) } : undefined;
  const passphrase = await readPassphrase(values, io);
  const all: SastEntry[] = [];
  for (const file of positionals) {
    let entries: SastEntry[];
    try {
      entries = importSast(read(file), passphrase);
    } catch (err) {
      if (err instanceof CommandError) throw err;
      throw new CommandError(`${file}: ${(err as Error).message}`, 1, { cause: err });
    }
    checkEntries(file, entries, ctl.name, ctl['sast-count'], installed);
    for (const e of entries) {
      if (all.some((a) => a.name === e.name))
        throw new CommandError(`${file}: ${e.name} appears more than once in the input`, 1);
      all.push(e);
    }
  }
  const names = installSast(values.state, all);
  say(io.stdout, `imported ${names.join(', ')} into ${stateLayout(values.state).sastDir}`);
  return 0;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  return guarded(io, 'sast', async () => {
    const [sub, ...rest] = argv;
    if (sub === 'export') return exportCommand(rest, io);
    if (sub === 'import') return importCommand(rest, io);
    throw new CommandError(USAGE);
  });
}
