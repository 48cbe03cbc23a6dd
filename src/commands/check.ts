/** `phone-proxy check --policy FILE...`: validate policies without starting anything. */
import { parseArgs } from 'node:util';
import { ROLE_MEANING } from '../cluster/roles';
import { capfWarnings } from '../config/capf-rules';
import { formatPath, loadPolicy, missingPolicyFiles } from '../config/load-policy';
import { PolicyError } from '../errors';
import { signerProblems } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, errorLine } from './io';

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
      const c = loaded.policy['appliance-cluster'];
      if (c) io.stdout.write(`${file}: cluster node ${c.node}, role ${c.role}: ${ROLE_MEANING[c.role]}\n`);
      for (const w of capfWarnings(loaded.policy))
        io.stdout.write(`${file}: warning: ${formatPath(w.path)}: ${w.message}\n`);
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
