/** `phone-proxy check --policy FILE...`: validate policies without starting anything. */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type LoadedPolicy, loadPolicy, missingPolicyFiles, policyRelative } from '../config/load-policy';
import { PolicyError, StateError } from '../errors';
import { checkSigningKey, readCertificateFile } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, errorLine } from './io';

/**
 * Imported certificates that sign configuration files, when already present: their key size
 * is only known from the file, and one the signed header cannot describe fails every .sgn.
 */
function signerProblems(loaded: LoadedPolicy): string[] {
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

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { policy: { type: 'string', multiple: true } },
    allowPositionals: true,
  });
  const files = [...(values.policy ?? []), ...positionals];
  if (files.length === 0) files.push(DEFAULT_POLICY);
  let failed = 0;
  for (const file of files) {
    try {
      const loaded = loadPolicy(file);
      const problems = signerProblems(loaded);
      if (problems.length > 0) throw new PolicyError(file, problems);
      io.stdout.write(`${file}: OK\n`);
      // Not an error here: an operator checks a policy before copying the certificates over.
      for (const missing of missingPolicyFiles(loaded)) {
        io.stdout.write(`${file}: warning: ${missing} not found yet (needed at start)\n`);
      }
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      failed++;
      io.stderr.write(`${errorLine('check', err)}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}
