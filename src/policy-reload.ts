/**
 * Live reload (issue 15): SIGHUP and `phone-proxy reload` re-read the policy file, check it as
 * `phone-proxy check` does, and apply what changed live to the running services without
 * dropping a call or a connection. What needs a restart is named and not applied; the appliance
 * keeps its old values for it (src/config/reload-plan.ts decides which is which). Nothing is
 * applied until everything validated: a refused reload changes nothing.
 */
import type pino from 'pino';
import { formatPath, type LoadedPolicy, loadPolicy } from './config/load-policy';
import { checkPolicyRules } from './config/policy-rules';
import { reloadPlan, touches } from './config/reload-plan';
import type { Service, ServiceContext } from './contracts/service';
import type { ApplianceState } from './contracts/state';
import { PolicyError } from './errors';
import { ppx } from './messages';
import { openState, signerProblems } from './pki/state';

export interface ReloadResult {
  file: string;
  /** Changed keys now in effect. */
  applied: string[];
  /** Changed keys that wait for a restart; the old values stay in effect. */
  restartOnly: string[];
}

export interface ReloaderOptions {
  policyFile: string;
  stateDir: string;
  ctx: ServiceContext;
  services: readonly Service[];
  log: pino.Logger;
  /** Last check of the policy about to take effect (the open-files budget); throws to refuse. */
  beforeApply?: (policy: LoadedPolicy['policy']) => void;
}

/** The same checks as `phone-proxy check`: schema, rules, and the signing certificates present. */
export function checkedPolicy(file: string): LoadedPolicy {
  const loaded = loadPolicy(file);
  const problems = signerProblems(loaded);
  if (problems.length > 0) throw new PolicyError(file, problems);
  return loaded;
}

/**
 * A certificate file replaced under the same name (a renewal, a new CA bundle) changes no key of
 * the policy: such trustpoints are found by their certificates and reload as `trustpoints[n]`.
 */
function renewedTrustpoints(
  live: readonly string[],
  policy: LoadedPolicy['policy'],
  before: ApplianceState,
  after: ApplianceState,
): string[] {
  if (live.includes('trustpoints')) return [];
  return policy.trustpoints.flatMap((t, n) => {
    const key = `trustpoints[${n}]`;
    if (touches(live, key)) return [];
    return before.trustpoints.get(t.name)?.certPem === after.trustpoints.get(t.name)?.certPem ? [] : [key];
  });
}

export class PolicyReloader {
  /** Keys of the file that the running appliance does not run yet (a restart would take them). */
  pendingRestart: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ReloaderOptions) {}

  /** One reload at a time, in the order asked. */
  reload(): Promise<ReloadResult> {
    const run = this.queue.then(() => this.apply());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(): Promise<ReloadResult> {
    const { ctx, log } = this.o;
    const next = checkedPolicy(this.o.policyFile);
    const plan = reloadPlan(ctx.loaded.policy, next.policy);
    // The new live values beside the old restart-only ones must still make a valid policy.
    const problems = checkPolicyRules(plan.effective);
    if (problems.length > 0) {
      throw new PolicyError(next.file, [
        `the keys that apply live (${plan.live.join(', ')}) do not fit the running values of the keys that need a restart (${plan.restartOnly.join(', ')}); restart to apply them together:`,
        ...problems.map((p) => `${formatPath(p.path)}: ${p.message}`),
      ]);
    }
    const loaded: LoadedPolicy = { policy: plan.effective, file: next.file, text: next.text };
    this.o.beforeApply?.(plan.effective);
    // Trustpoints and client CAs come from the state: opened (new keys made, certificate files
    // read again) before anything changes.
    const state = await openState(this.o.stateDir, loaded);
    const changed = [...plan.live, ...renewedTrustpoints(plan.live, loaded.policy, ctx.state, state)];

    ctx.loaded = loaded;
    ctx.state = state;
    const applied = new Set<string>();
    for (const s of this.o.services) for (const p of s.reconfigure?.({ changed }) ?? []) applied.add(p);
    if (touches(plan.live, 'logging')) {
      ctx.logs.setLevel(plan.effective.logging.level);
      for (const p of plan.live) if (touches([p], 'logging')) applied.add(p);
    }
    const unclaimed = changed.filter((p) => !applied.has(p));
    if (unclaimed.length > 0) log.error(...ppx(100005, { unclaimed }));
    this.pendingRestart = plan.restartOnly;
    const result = { file: next.file, applied: changed.filter((p) => applied.has(p)), restartOnly: plan.restartOnly };
    log.info(
      result,
      `policy reloaded: ${result.applied.length ? `applied live ${result.applied.join(', ')}` : 'nothing to apply live'}${
        result.restartOnly.length
          ? `; needs a restart, still running the old values: ${result.restartOnly.join(', ')}`
          : ''
      }`,
    );
    return result;
  }
}
