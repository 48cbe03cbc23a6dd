/**
 * The appliance process: policy → state (keys, certificates) → services → control API.
 * Stops in reverse order on SIGINT/SIGTERM.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildServices } from './appliance';
import { joinCluster } from './cluster/join';
import { type LoadedPolicy, loadPolicy } from './config/load-policy';
import type { Listening, Service, ServiceContext } from './contracts/service';
import { assertNoRunningDaemon, type ControlServer, startControlServer } from './control/api';
import { startMetricsServer } from './control/metrics';
import { ControlRegistry } from './control/registry';
import { FdLimitError } from './errors';
import { describeFdBudget, type FdBudget, fdBudget, fdVerdict, type NofileLimit, readNofileLimit } from './fd-budget';
import { Logs } from './log';
import { openClusterState } from './pki/cluster-trust';
import { openState } from './pki/state';
import { PACKAGE } from './version';
import { warmUp } from './warmup';

export interface DaemonOptions {
  policyFile: string;
  stateDir: string;
  /** Log destination; stderr by default. */
  logDestination?: pino.DestinationStream;
  /** For tests: build only these services (default: the whole appliance, src/appliance.ts). */
  services?: (ctx: ServiceContext) => Service[];
  /** Canned calls through signaling and media before "started" (src/warmup.ts); default on. */
  warmup?: boolean;
}

export interface Daemon {
  ctx: ServiceContext;
  control: ControlRegistry;
  listening: Listening[];
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const started = new Date();
  const loaded: LoadedPolicy = loadPolicy(opts.policyFile);
  const policy = loaded.policy;
  const stateDir = path.resolve(opts.stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  await assertNoRunningDaemon(stateDir);
  const logs = new Logs(policy.logging.level, opts.logDestination);
  const events = logs.for('events');
  const fds = checkFdBudget(policy, events);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'phone_proxy_' });
  // A cluster node joins Redis first: the cluster's trust goes into the state before it opens.
  const cluster = policy['appliance-cluster'] ? await joinCluster(loaded, events, metrics) : undefined;
  const state = cluster
    ? await openClusterState(stateDir, loaded, cluster, events).catch(async (err: unknown) => {
        await cluster.stop();
        throw err;
      })
    : await openState(stateDir, loaded);

  const control = new ControlRegistry();
  const ctx: ServiceContext = { loaded, state, logs, metrics, ...(cluster ? { cluster } : {}) };
  const listening: Listening[] = [];
  const running: Service[] = [];
  const closers: (() => Promise<void>)[] = [];

  const stop = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const s of running.splice(0).reverse()) {
      await s.stop().catch((err: Error) => events.error({ service: s.name, err: err.message }, 'stop failed'));
    }
    await cluster?.stop();
    events.info('phone-proxy stopped');
    logs.root.flush?.();
  };

  try {
    if (policy['tls-proxy']['legacy-phones']) {
      events.warn('tls-proxy legacy-phones is ON: TLS 1.0 and AES128-SHA are accepted from phones');
    }
    if (cluster) control.addAll(cluster.operatorViews());
    for (const service of (opts.services ?? buildServices)(ctx)) {
      listening.push(...(await service.start()));
      running.push(service);
      if (service.operatorViews) control.addAll(service.operatorViews());
    }
    registerCoreViews(control, ctx, listening, started, fds);
    const api: ControlServer = await startControlServer({
      stateDir,
      registry: control,
      logs,
      tcpPort: policy.control.socket === 'tcp' ? policy.control.port : undefined,
    });
    closers.push(api.close);
    listening.push(
      api.endpoint.socketPath
        ? { what: 'control API', protocol: 'unix', address: api.endpoint.socketPath }
        : { what: 'control API', protocol: 'http', address: '127.0.0.1', port: api.endpoint.port },
    );
    const m = policy.control.metrics;
    if (m) {
      const server = await startMetricsServer(metrics, m.address, m.port);
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      listening.push({ what: 'metrics', protocol: 'http', address: m.address, port: m.port });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  // The first call would otherwise pay lazy loads and first compilations (~30 ms, issue 13).
  if (opts.warmup !== false) {
    const w = await warmUp(ctx, running);
    if (w.ok) events.info({ warmup: w }, 'warm-up done');
    else events.warn({ warmup: w }, 'warm-up incomplete: the first calls may be slower');
  }
  events.info({ listening }, 'phone-proxy started');
  return { ctx, control, listening, stop };
}

/**
 * The policy's worst-case file descriptors against the soft open-files limit (issue 12). Node
 * cannot raise the limit itself (no setrlimit); short, it warns with every term; not even one
 * call fitting, it refuses to start.
 */
function checkFdBudget(policy: LoadedPolicy['policy'], events: pino.Logger): { budget: FdBudget; limit?: NofileLimit } {
  const budget = fdBudget(policy);
  const limit = readNofileLimit();
  if (!limit) return { budget };
  const verdict = fdVerdict(budget, limit.soft);
  if (verdict === 'refuse') throw new FdLimitError(describeFdBudget(budget, limit).join('\n'));
  if (verdict === 'short') {
    const terms = Object.fromEntries(budget.terms.map((t) => [t.name, t.fds]));
    events.warn(
      { softLimit: limit.soft, hardLimit: limit.hard, worstCase: budget.worstCase, minimum: budget.minimum, terms },
      `open-files limit ${limit.soft} is below the policy's worst case ${budget.worstCase} (${budget.terms.map((t) => `${t.name} ${t.fds}`).join(', ')}): raise LimitNOFILE or lower the policy's limits; see show resources`,
    );
  }
  return { budget, limit };
}

function registerCoreViews(
  control: ControlRegistry,
  ctx: ServiceContext,
  listening: Listening[],
  started: Date,
  fds: { budget: FdBudget; limit?: NofileLimit },
): void {
  const { loaded, logs } = ctx;
  control.addShow({
    name: 'resources',
    help: 'open-files budget: the policy worst case, term by term, against the limit',
    render: () => {
      const limit = readNofileLimit() ?? fds.limit;
      let open: number | null = null;
      try {
        open = readdirSync('/proc/self/fd').length;
      } catch {
        // not Linux
      }
      return {
        data: {
          softLimit: limit?.soft ?? null,
          hardLimit: limit?.hard ?? null,
          open,
          worstCase: fds.budget.worstCase,
          minimum: fds.budget.minimum,
          verdict: limit ? fdVerdict(fds.budget, limit.soft) : null,
          terms: fds.budget.terms,
        },
        lines: [...describeFdBudget(fds.budget, limit), ...(open === null ? [] : [`open now: ${open}`])],
      };
    },
  });
  control.addShow({
    name: 'version',
    help: 'software version, uptime, policy in use',
    render: () => {
      const data = {
        name: PACKAGE.name,
        version: PACKAGE.version,
        node: process.version,
        pid: process.pid,
        started: started.toISOString(),
        uptimeSeconds: Math.round((Date.now() - started.getTime()) / 1000),
        policy: loaded.file,
        stateDir: ctx.state.dir,
      };
      return {
        data,
        lines: [
          `${data.name} version ${data.version} (node ${data.node})`,
          `up ${data.uptimeSeconds} s since ${data.started}, pid ${data.pid}`,
          `policy ${data.policy}`,
          `state directory ${data.stateDir}`,
        ],
      };
    },
  });
  control.addShow({
    name: 'running-policy',
    help: 'the policy file the appliance runs, as loaded',
    render: () => ({
      data: { file: loaded.file, policy: loaded.policy },
      lines: [`! ${loaded.file}`, loaded.text.trimEnd()],
    }),
  });
  control.addShow({
    name: 'listeners',
    help: 'what listens where',
    render: () => ({
      data: listening,
      tables: [
        {
          columns: ['what', 'protocol', 'address', 'port'],
          rows: listening.map((l) => [l.what, l.protocol, l.address, l.port ?? null]),
        },
      ],
    }),
  });
  control.addShow({
    name: 'debug',
    help: 'debug categories that are on',
    render: () => {
      const state = logs.debugState();
      return {
        data: state,
        lines: Object.entries(state).map(([c, on]) => `debug ${c} ${on ? 'on' : 'off'}`),
      };
    },
  });
}
