// The Grafana dashboard and the Prometheus alert rules in monitoring/ query only metrics that
// the worker's or a webhook receiver's /metrics actually exports, and the rules load and behave
// (promtool, from Debian's prometheus package, which .ci/run installs).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/health/metrics.js';
import { createReceiverMetrics } from '../../src/webhooks/metrics.js';

const DASHBOARD = 'monitoring/grafana/dashboards/account-sync.json';
const RULES = 'monitoring/prometheus/alerts.yml';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

/** Every series name a /metrics exports: what the worker and a receiver serve, from the same registries. */
async function exportedNames(): Promise<Set<string>> {
  const worker = createMetrics({ lastSuccess: async () => null, queueCounts: async () => ({ active: 0 }) });
  const receiver = createReceiverMetrics({ pendingEvents: async () => 0 });
  const text = (await worker.registry.metrics()) + (await receiver.registry.metrics());
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** The account_sync_* series an expression reads. */
const metricsIn = (expr: string) => [...expr.matchAll(/\baccount_sync_[a-z0-9_]+\b/g)].map((m) => m[0]);

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const walk = (panels: Panel[]): Array<{ panel: string; expr: string }> =>
    panels.flatMap((panel) => [...(panel.targets ?? []).map((t) => ({ panel: panel.title, expr: t.expr })), ...walk(panel.panels ?? [])]);
  return walk(dashboard.panels);
}

function ruleExpressions(): Array<{ alert: string; expr: string }> {
  const text = readFileSync(RULES, 'utf8');
  const alerts = [...text.matchAll(/^\s+- alert: (\S+)\n\s+expr: (.+)$/gm)].map((m) => ({ alert: m[1]!, expr: m[2]! }));
  // Every rule was read: one expr line per alert.
  expect(alerts).toHaveLength([...text.matchAll(/^\s+- alert:/gm)].length);
  return alerts;
}

describe('the Grafana dashboard', () => {
  it('queries only metrics that /metrics exports, in every panel', async () => {
    const exported = await exportedNames();
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(21);
    // The Webhooks row reads the receivers' own metrics.
    const webhookPanels = queries.filter(({ expr }) => expr.includes('account_sync_webhook_')).map(({ panel }) => panel);
    expect([...new Set(webhookPanels)]).toEqual(['Deliveries by status and reason', 'Events received and applied', 'Apply lag (p50, p99)', 'Pending events']);
    for (const { panel, expr } of queries) {
      expect(metricsIn(expr).length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of metricsIn(expr)) expect(exported.has(name), `${panel} queries ${name}, which /metrics does not export`).toBe(true);
    }
  });

  it('uses the provisioned Prometheus data source', () => {
    const provisioned = readFileSync('monitoring/grafana/provisioning/datasources/prometheus.yml', 'utf8');
    expect(provisioned).toMatch(/^\s+uid: prometheus$/m);
    const text = readFileSync(DASHBOARD, 'utf8');
    const uids = new Set([...text.matchAll(/"uid": "([^"]+)"/g)].map((m) => m[1]));
    expect(uids).toEqual(new Set(['account-sync', 'prometheus']));
  });
});

describe('the Prometheus alert rules', () => {
  it('cover staleness, failing runs, 429 storms, rejected records, dependencies and webhooks, on exported metrics only', async () => {
    const exported = await exportedNames();
    const rules = ruleExpressions();
    expect(rules.map((r) => r.alert)).toEqual([
      'AccountSyncMirrorStale',
      'AccountSyncRunsFailing',
      'AccountSyncRateLimitStorm',
      'AccountSyncRejectedRecordsRising',
      'AccountSyncDependencyDown',
      'AccountSyncWorkerMissing',
      'AccountSyncWebhookLagHigh',
      'AccountSyncWebhookApplierStalled',
      'AccountSyncWebhookBacklogGrowing',
      'AccountSyncWebhookDeliveriesRefused',
      'AccountSyncWebhookDeliveriesFailing',
    ]);
    for (const { alert, expr } of rules) {
      expect(metricsIn(expr).length, alert).toBeGreaterThan(0);
      for (const name of metricsIn(expr)) expect(exported.has(name), `${alert} reads ${name}, which /metrics does not export`).toBe(true);
    }
  });

  it('load and fire as their unit tests expect (promtool)', () => {
    const run = (...args: string[]) => execFileSync(PROMTOOL, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(run('check', 'rules', RULES)).toContain('SUCCESS: 11 rules found');
    expect(run('test', 'rules', 'monitoring/prometheus/alerts.test.yml')).toContain('SUCCESS');
    expect(run('check', 'config', '--syntax-only', 'monitoring/prometheus/prometheus.yml')).toContain('SUCCESS');
  });
});
