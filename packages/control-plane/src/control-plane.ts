import type { Identity } from '@tollgate/core';
import { ApiRouter, ApiServer, controlPlaneRoutes, Metrics } from './api/index';
import { Approvals, type ApprovalsConfig, approvalsWebhook } from './approvals/index';
import {
  type AuditConfig,
  type AuditStore,
  auditStoreOptions,
  openAuditStore,
  retentionCutoff,
} from './audit/index';
import { buildIdentity, type IdentityConfig, type IdentityRuntime, ServiceAccounts } from './identity/index';
import { PolicyWatcher } from './policy/index';
import { openStore, type StoreSpec } from './store/config';
import { closeStore, type StoreDb } from './store/database';
import { EnvFileVault } from './vault/index';

/** Everything the control plane needs to start; the gateway reads it from its config file. */
export interface ControlPlaneConfig {
  readonly store: StoreSpec | { readonly url: string };
  readonly policyFile: string;
  readonly audit?: AuditConfig;
  readonly identity?: IdentityConfig;
  readonly approvals?: ApprovalsConfig;
  /** Where the control-plane HTTP API listens; absent: no API. */
  readonly api?: { readonly host: string; readonly port: number };
}

export interface ControlPlaneOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** One line per event; never given a secret or a raw sensitive value. */
  readonly log?: (line: string) => void;
}

const RETENTION_CHECK_MS = 3600_000;

/**
 * The control plane of one gateway process: store, audit log, service accounts, identity,
 * vault, approvals, policy (reloaded on SIGHUP and file change) and the HTTP API. Adapters get
 * its parts through the interfaces in @tollgate/core.
 */
export class ControlPlane {
  readonly metrics = new Metrics();
  #server: ApiServer | undefined;
  #retention: NodeJS.Timeout | undefined;

  private constructor(
    readonly store: StoreDb,
    readonly audit: AuditStore,
    readonly serviceAccounts: ServiceAccounts,
    readonly identity: IdentityRuntime,
    readonly vault: EnvFileVault,
    readonly approvals: Approvals,
    readonly policy: PolicyWatcher,
    private readonly log: (line: string) => void,
  ) {}

  get authenticator() {
    return this.identity.authenticator;
  }

  /** The API's bound port (after `start` with an `api` section). */
  get apiPort(): number | undefined {
    return this.#server?.port;
  }

  static async start(cfg: ControlPlaneConfig, opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const env = opts.env ?? process.env;
    const log = opts.log ?? (() => {});
    const store = openStore(cfg.store, env);
    const opened: Array<() => Promise<void>> = [() => closeStore(store)];
    try {
      const audit = await openAuditStore(store, auditStoreOptions(cfg.audit ?? {}, env));
      opened.unshift(() => audit.close());
      const serviceAccounts = await ServiceAccounts.open(store);
      opened.unshift(() => serviceAccounts.close());
      const identity = buildIdentity(
        cfg.identity ?? { oidc: [], saml: undefined, gatewayTokens: undefined },
        {
          serviceAccounts,
          env,
        },
      );
      const vault = new EnvFileVault({ env });
      const webhook = await approvalsWebhook(cfg.approvals ?? {}, vault);
      const approvals = await Approvals.open(store, { audit, log, ...(webhook ? { webhook } : {}) });
      opened.unshift(() => approvals.close());
      let reloads: ReturnType<Metrics['counter']> | undefined;
      const policy = new PolicyWatcher(cfg.policyFile, {
        onReload: (r) => {
          const status = r.ok ? (r.changed ? 'reloaded' : 'unchanged') : 'rejected, previous policy kept';
          log(`policy ${r.file}: ${status}${r.error ? `: ${r.error.message}` : ''}`);
          reloads?.inc({ outcome: r.ok ? 'ok' : 'rejected' });
          audit
            .append({
              type: 'policy.reload',
              data: {
                ok: r.ok,
                trigger: r.trigger,
                file: r.file,
                hash: r.hash,
                previousHash: r.previousHash,
                changed: r.changed,
                ...(r.error ? { error: r.error.message } : {}),
              },
            })
            .catch((err: Error) => log(`audit: cannot record policy reload: ${err.message}`));
        },
      });
      const cp = new ControlPlane(store, audit, serviceAccounts, identity, vault, approvals, policy, log);
      reloads = cp.metrics.counter('tollgate_policy_reloads_total', 'Policy reload attempts by outcome.');
      await audit.append({
        type: 'policy.reload',
        data: { ok: true, trigger: 'start', file: policy.file, hash: policy.policy.hash, changed: true },
      });
      cp.#registerMetrics();
      cp.#scheduleRetention(cfg.audit);
      if (cfg.api) await cp.#listen(cfg.api.host, cfg.api.port);
      return cp;
    } catch (err) {
      for (const close of opened) await close().catch(() => {});
      throw err;
    }
  }

  #registerMetrics(): void {
    const m = this.metrics;
    m.gauge('tollgate_audit_appended_total', 'Audit records appended by this process.').track(
      () => this.audit.stats().appended,
    );
    m.gauge('tollgate_audit_commits_total', 'Audit group commits by this process.').track(
      () => this.audit.stats().commits,
    );
    m.gauge('tollgate_audit_failed_commits_total', 'Audit commits that failed (appends refused).').track(
      () => this.audit.stats().failedCommits,
    );
    m.gauge('tollgate_audit_pending_appends', 'Audit appends waiting for a commit.').track(
      () => this.audit.stats().pending,
    );
    m.gauge('tollgate_approvals_waiting', 'Held commands waiting for a decision in this process.').track(
      () => this.approvals.stats().waiting,
    );
    m.gauge('tollgate_approval_requests_total', 'Approval requests created by this process.').track(
      () => this.approvals.stats().requests,
    );
  }

  #scheduleRetention(cfg: AuditConfig | undefined): void {
    if (!cfg?.retentionDays) return;
    const prune = () => {
      const cutoff = retentionCutoff(cfg);
      if (cutoff === undefined) return;
      this.audit.prune(cutoff).then(
        (r) => this.log(`audit retention: ${JSON.stringify(r)}`),
        (err: Error) => this.log(`audit retention failed: ${err.message}`),
      );
    };
    prune();
    this.#retention = setInterval(prune, RETENTION_CHECK_MS);
    this.#retention.unref();
  }

  async #listen(host: string, port: number): Promise<void> {
    const requests = this.metrics.counter(
      'tollgate_api_requests_total',
      'Control-plane API requests by operation and status.',
    );
    const routes = controlPlaneRoutes({
      policy: () => this.policy,
      approvals: this.approvals,
      audit: this.audit,
      serviceAccounts: this.serviceAccounts,
      saml: this.identity.saml,
      readiness: () => this.readiness(),
      metrics: this.metrics,
    });
    const router = new ApiRouter(
      routes,
      { authenticator: this.authenticator, roles: () => this.policy },
      (err, req) => {
        const e = err as Error & { code?: string };
        if (!e.code?.startsWith('TG_')) this.log(`api ${req.method} ${req.path}: ${e.message}`);
      },
    );
    const counted = {
      handle: async (req: Parameters<ApiRouter['handle']>[0]) => {
        const res = await router.handle(req);
        const m = router.match(req.method, req.path);
        requests.inc({
          operation: typeof m === 'string' ? 'unknown' : m.route.operationId,
          status: String(res.status),
        });
        return res;
      },
    } as ApiRouter;
    this.#server = new ApiServer(counted);
    const bound = await this.#server.listen(host, port);
    this.log(`control-plane API listening on http://${host.includes(':') ? `[${host}]` : host}:${bound}`);
  }

  /** `ok` per dependency, or what is wrong. */
  async readiness(): Promise<Record<string, string>> {
    const checks: Record<string, string> = {};
    try {
      if (this.store.kind === 'sqlite') this.store.db.prepare('SELECT 1').get();
      else await this.store.pool.query('SELECT 1');
      checks.store = 'ok';
    } catch (err) {
      checks.store = `unavailable: ${(err as Error).message}`;
    }
    checks.audit = this.audit.stats().pending > 10_000 ? 'backlogged' : 'ok';
    checks.policy = 'ok';
    return checks;
  }

  /** Identity for a token, as adapters and the API see it. */
  authenticate(token: string): Promise<Identity> {
    return this.authenticator.authenticateToken(token);
  }

  async stop(): Promise<void> {
    this.#server?.close();
    if (this.#retention) clearInterval(this.#retention);
    this.policy.stop();
    await this.approvals.close();
    await this.serviceAccounts.close();
    await this.audit.close();
    await closeStore(this.store);
  }
}
