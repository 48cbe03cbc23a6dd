/**
 * `phone-proxy pki export ldc-issuer [--policy FILE] [--state DIR]`: prints the LDC issuer's
 * certificate (PEM) for upload to UCM's CallManager-trust store, so that a mixed-mode UCM
 * accepts the LDCs the appliance presents on TLS legs (ASA phone proxy guide, "Creating the TLS Proxy for
 * a Mixed-mode Cisco UCM Cluster"). Reads the state directory only: nothing is generated.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPolicy } from '../config/load-policy';
import { CommandError } from '../errors';
import { stateLayout } from '../pki/state';
import { type CommandIo, DEFAULT_POLICY, DEFAULT_STATE_DIR, guarded, say } from './io';

const USAGE = 'usage: phone-proxy pki export ldc-issuer [--policy FILE] [--state DIR]';

export function ldcIssuerPem(policyFile: string, stateDir: string): string {
  const { policy } = loadPolicy(policyFile);
  const name = policy['tls-proxy']['ldc-issuer'];
  if (!name)
    throw new CommandError(`${policyFile}: tls-proxy.ldc-issuer is not set: there is no LDC issuer to export`, 1);
  const file = stateLayout(stateDir).cert(name);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CommandError(
      `${file}: cannot read the LDC issuer certificate (${(err as NodeJS.ErrnoException).code}); start the appliance once to generate it`,
      1,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CommandError(`${file}: not a PEM certificate`, 1);
  return pem;
}

export function runPki(argv: string[], io: CommandIo): Promise<number> {
  return guarded(io, 'pki', async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        policy: { type: 'string', default: DEFAULT_POLICY },
        state: { type: 'string', default: DEFAULT_STATE_DIR },
      },
      allowPositionals: true,
    });
    if (positionals.join(' ') !== 'export ldc-issuer') throw new CommandError(USAGE);
    say(io.stdout, ldcIssuerPem(values.policy as string, values.state as string));
    return 0;
  });
}
