/**
 * Reads a policy file: YAML → schema → phone-proxy rules. Every problem is reported as
 * `file:line:col: path: rule`, all of them at once, so an operator fixes a policy in one pass.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { parseSecretKeys } from '../cluster/secret-box';
import { PolicyError } from '../errors';
import { checkPolicyRules, type PolicyProblem } from './policy-rules';
import { type Policy, PolicySchema } from './policy-schema';

export interface LoadedPolicy {
  policy: Policy;
  /** Absolute path of the policy file; certificate files are relative to its folder. */
  file: string;
  /** The text as read, for `show running-policy`. */
  text: string;
}

/** `media-termination.addresses[1].address` */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : `${out ? '.' : ''}${String(k)}`;
  return out || '(top level)';
}

function zodProblems(error: z.ZodError): PolicyProblem[] {
  return error.issues.map((issue) => {
    const p = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      return {
        path: p,
        message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      };
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) return { path: p, message: 'is required' };
    return { path: p, message: issue.message };
  });
}

export function parsePolicy(text: string, file: string): LoadedPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((e) => `${where(e.pos[0])}: YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const locate = (p: (string | number)[]) => {
    // The deepest node that exists tells where to look, even for a missing key.
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true);
      if (isNode(node) && node.range) return where(node.range[0]);
    }
    return file;
  };
  const render = (problems: PolicyProblem[]) =>
    problems.map((q) => `${locate(q.path)}: ${formatPath(q.path)}: ${q.message}`);

  const parsed = PolicySchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) throw new PolicyError(file, render(zodProblems(parsed.error)));
  const problems = [...checkPolicyRules(parsed.data), ...secretFileProblems(parsed.data, path.dirname(file))];
  if (problems.length > 0) throw new PolicyError(file, render(problems));
  return { policy: parsed.data, file: path.resolve(file), text };
}

export function loadPolicy(file: string): LoadedPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError(file, [`cannot read policy: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parsePolicy(text, file);
}

/** Resolves a file named in the policy (certificates, CTL import) against the policy's folder. */
export function policyRelative(loaded: LoadedPolicy, name: string): string {
  return path.resolve(path.dirname(loaded.file), name);
}

/** Files the policy names (certificates, keys, CTL import): the ones missing now would stop a start. */
export function missingPolicyFiles(loaded: LoadedPolicy): string[] {
  const named: string[] = [];
  for (const t of loaded.policy.trustpoints) {
    if (t.certificate) named.push(t.certificate);
    if (t.key) named.push(t.key);
  }
  const ctlImport = loaded.policy['ctl-file'].import;
  if (ctlImport) named.push(ctlImport.file);
  const tls = loaded.policy['appliance-cluster']?.tls;
  for (const f of [tls?.ca, tls?.certificate, tls?.key]) if (f) named.push(f);
  return named.filter((f) => !existsSync(policyRelative(loaded, f)));
}

/**
 * The cluster's secret file (docs/cluster.md §4) must be there, private (0600: it opens every
 * secret in Redis) and hold a usable key: checked with the policy, not at the first secret.
 */
function secretFileProblems(policy: Policy, dir: string): PolicyProblem[] {
  const c = policy['appliance-cluster'];
  const password = c?.['password-file'];
  return [
    ...privateFileProblems(c?.['secret-file'], 'secret-file', 'the cluster key', dir, parseSecretKeys),
    ...privateFileProblems(password, 'password-file', 'the Redis password', dir, (text) => {
      if (redisPassword(text) === '') throw new Error('the first line is empty: put the Redis password there');
    }),
  ];
}

/** The Redis AUTH password in a password-file: its first line, without the line end. */
export function redisPassword(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim();
}

function privateFileProblems(
  name: string | undefined,
  key: string,
  what: string,
  dir: string,
  parse: (text: string) => unknown,
): PolicyProblem[] {
  if (name === undefined) return [];
  const at = ['appliance-cluster', key];
  const file = path.resolve(dir, name);
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    return [{ path: at, message: `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})` }];
  }
  if ((mode & 0o077) !== 0)
    return [
      {
        path: at,
        message: `${file}: mode ${mode.toString(8).padStart(4, '0')} lets others read ${what}; chmod 600 ${file}`,
      },
    ];
  try {
    parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return [{ path: at, message: `${file}: ${(err as Error).message}` }];
  }
  return [];
}
