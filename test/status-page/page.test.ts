// The status page in a real browser (Debian's Chromium, headless) against a real worker with a
// synced mirror: every section shows the mirror's figures as SQL computes them, the charts are
// drawn, the progress bar moves while a run walks, the webhook lag appears once a real
// receiver has applied events, the console stays clean. Screenshots at a
// laptop's and a phone's width go to .tmp/screenshots/ (docs/operations.md shows copies).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/names.js';
import { publicText } from '../../src/status-page/public-text.js';
import { launchBrowser, openPage, paintedPixels, screenshot } from '../support/browser.js';
import { completions, daemonEnv, httpGet, openTestQueue, pollUntil, spawnCli, spawnWorker, uniquePrefix, type CliProcess } from '../support/daemon.js';
import { startHarness, type Harness } from '../support/harness.js';

const ACCOUNTS = 1500;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let h: Harness;
let q: Awaited<ReturnType<typeof openTestQueue>>;
let worker: CliProcess;
let receiver: CliProcess | undefined;
let browser: Browser;
let base: string;
let env: ReturnType<typeof daemonEnv>;

const fmt = (n: number) => n.toLocaleString('en-US');
/** The page has read the mirror as it is now: its cached figures are those of the latest poll's version. */
const figuresCurrent = (page: Page) =>
  page.waitForFunction(
    () => {
      const body = (globalThis as any).document.body; // eslint-disable-line @typescript-eslint/no-explicit-any
      return body.dataset.figures === 'current' && body.dataset.figuresVersion === body.dataset.liveVersion;
    },
    undefined,
    { timeout: 30_000 },
  );
// Functions passed to the page run there, serialized: they use nothing from this file, and reach
// the document through globalThis since the tests are compiled without the DOM's types.
/* eslint-disable @typescript-eslint/no-explicit-any */
const progressAbove = (before: number) =>
  Number((globalThis as any).document.getElementById('progress-bar').getAttribute('aria-valuenow')) > before;
const runFinished = () => (globalThis as any).document.getElementById('progress').dataset.running === 'false';
/* eslint-enable @typescript-eslint/no-explicit-any */
const texts = (page: Page, selector: string) => page.locator(selector).allInnerTexts();

beforeAll(async () => {
  // Webhook delays and retries in units of 5 ms instead of seconds.
  h = await startHarness('status_page', { accounts: ACCOUNTS, seed: 11, webhookTimeUnitMs: 5 });
  const prefix = uniquePrefix('status');
  q = await openTestQueue(prefix);
  env = daemonEnv(h, prefix, {
    SYNC_INTERVAL_MS: '3600000',
    STATUS_PAGE_POLL_MS: '300',
    STATUS_PAGE_REFRESH_MS: '0',
    BULL_BOARD_ENABLED: 'true',
  });
  const first = completions(q.events, 1);
  worker = spawnWorker(env);
  await first;
  base = `http://127.0.0.1:${await worker.healthPort()}`;

  // A run that fails at once (refused), then one that records status changes.
  h.simulator.faults.enqueue('/accounts', { kind: 'status', status: 403 });
  expect((await spawnCli(['trigger', '--wait'], env).exited).code).toBe(1);
  for (const account of h.simulator.dataset.list().slice(0, 30)) h.simulator.dataset.setStatus(account.id, 'LOCKED');
  expect((await spawnCli(['trigger', '--wait'], env).exited).code).toBe(0);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  receiver?.kill('SIGTERM');
  if (receiver) expect((await receiver.exited).code).toBe(0);
  worker?.kill('SIGTERM');
  if (worker) expect((await worker.exited).code).toBe(0);
  await q?.close();
  await h?.close();
});

async function expectMirrorFigures(page: Page) {
  const byStatus = await h.prisma.$queryRaw<Array<{ status: string; accounts: number }>>`
    SELECT status, accounts::int AS accounts FROM account_status_counts ORDER BY accounts DESC, status`;
  const [counts] = await h.prisma.$queryRaw<Array<{ live: number; deleted: number; last_success: string; hourly: number }>>`
    SELECT (SELECT count(*) FROM accounts WHERE deleted_at IS NULL)::int AS live,
           (SELECT count(*) FROM accounts WHERE deleted_at IS NOT NULL)::int AS deleted,
           (SELECT id::text FROM sync_runs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1) AS last_success,
           (SELECT count(*) FROM account_status_changes
             WHERE changed_at >= date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '167 hours')::int AS hourly`;
  const daily = await h.prisma.$queryRaw<Array<{ day: string; status: string; accounts: number }>>`
    SELECT day::text AS day, status, accounts::int AS accounts
    FROM account_status_daily((now() AT TIME ZONE 'UTC')::date - 29, (now() AT TIME ZONE 'UTC')::date)
    ORDER BY day, status`;
  const runs = await h.prisma.$queryRaw<
    Array<{ id: string; status: string; mode: string; seen: number; written: number; changes: number; deletions: number; rejected: number }>
  >`
    SELECT id::text, status, mode, accounts_seen AS seen, (accounts_inserted + accounts_updated) AS written,
           status_changes AS changes, deletions, rejected_records AS rejected
    FROM sync_runs ORDER BY started_at DESC, id DESC`;

  expect(await page.locator('#freshness').getAttribute('data-state')).toBe('ok');
  expect(await page.locator('#freshness-text').innerText()).toMatch(new RegExp(`^Fresh: last successful run #${counts!.last_success} finished \\S+ ago$`));
  expect(await page.locator('#accounts-live').innerText()).toBe(fmt(counts!.live));
  expect(await page.locator('#accounts-deleted').innerText()).toBe(fmt(counts!.deleted));
  const rows = await page.locator('#accounts-table tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [(tr as unknown as { cells: Array<{ textContent: string }> }).cells[0]!.textContent, (tr as unknown as { cells: Array<{ textContent: string }> }).cells[1]!.textContent]),
  );
  expect(rows).toEqual(byStatus.map((row) => [row.status, fmt(row.accounts)]));

  const lastDay = daily.at(-1)!.day;
  expect(await page.locator('#trend-today').innerText()).toBe(
    `${lastDay}: ${daily.filter((row) => row.day === lastDay).map((row) => `${row.status} ${fmt(row.accounts)}`).join(' · ')}`,
  );
  const plotted = (await page.evaluate(() => fetch('/status/api/figures?days=30').then((r) => r.json()))) as {
    trend: { days: string[]; began: string | null; series: Array<{ status: string; accounts: Array<number | null> }> };
  };
  expect(plotted.trend.days).toHaveLength(30);
  // Only what is known (issue 25): no figure for a day before the first successful run.
  const [first] = await h.prisma.$queryRaw<Array<{ began: string }>>`
    SELECT (min(finished_at) AT TIME ZONE 'UTC')::date::text AS began FROM sync_runs WHERE status = 'succeeded'`;
  const began = first!.began;
  expect(plotted.trend.began).toBe(began);
  const knownStatuses = new Set(daily.filter((row) => row.day >= began).map((row) => row.status));
  const expectedDaily = daily.filter((row) => knownStatuses.has(row.status)).map((row) => ({ ...row, accounts: row.day < began ? null : row.accounts }));
  expect(plotted.trend.series.flatMap((s) => s.accounts.map((accounts, i) => ({ day: plotted.trend.days[i], status: s.status, accounts }))).sort((a, b) => `${a.day}${a.status}`.localeCompare(`${b.day}${b.status}`))).toEqual(expectedDaily);
  expect(await page.locator('#trend-chart').getAttribute('data-began')).toBe(began);
  expect(await page.locator('#trend-began').innerText()).toBe(
    plotted.trend.days[0]! < began ? `Before ${began} the mirror had not begun: those days are not known.` : '',
  );
  // Every bar chart's value axis starts at zero: a short bar is short, not empty.
  for (const chart of ['runs-chart', 'changes-chart']) expect(await page.locator(`#${chart}`).getAttribute('data-value-min'), chart).toBe('0');
  expect(await page.locator('#changes-total').innerText()).toBe(fmt(counts!.hourly));

  // Found and read in one evaluation: a poll redraws the table, and a row read after it was
  // replaced is no longer rendered, so its innerText would be its whole text, a closed error included.
  const runRows = await page.evaluate(() =>
    Array.from((globalThis as any).document.querySelectorAll('#runs-table tbody tr') as ArrayLike<{ cells: ArrayLike<{ innerText: string }> }>, (tr) => // eslint-disable-line @typescript-eslint/no-explicit-any
      Array.from(tr.cells, (c) => c.innerText.trim()),
    ),
  );
  expect(runRows.map((cells) => [cells[0], cells[1], cells[2], ...cells.slice(5)])).toEqual(
    runs.map((run) => [
      `#${run.id}`,
      run.status === 'failed' ? expect.stringMatching(/^failed \(UPVEST_FORBIDDEN\)$/) : run.status,
      run.mode,
      fmt(run.seen),
      fmt(run.written),
      fmt(run.changes),
      fmt(run.deletions),
      fmt(run.rejected),
    ]),
  );
  for (const chart of ['runs-chart', 'trend-chart', 'changes-chart']) {
    expect(Number(await page.locator(`#${chart}`).getAttribute('data-drawn')), chart).toBeGreaterThan(0);
    expect(await paintedPixels(page, chart), chart).toBeGreaterThan(500);
  }
}

/** As the page writes a duration under a minute. */
const secondsText = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Once the simulator has sent everything and the receiver applied it, the Webhooks section shows what SQL says. */
async function expectWebhookFigures(page: Page) {
  await pollUntil(
    async () => {
      const [row] = await h.prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM webhook_events WHERE outcome IS NULL`;
      return h.simulator.webhooks.backlog === 0 && row!.n === 0;
    },
    'every webhook event applied',
  );
  const [last] = await h.prisma.$queryRaw<Array<{ id: string; type: string; processed: string; lag: number }>>`
    SELECT event_id::text AS id, type, to_char(processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS processed,
           round(extract(epoch FROM processed_at - created_at) * 1000)::int AS lag
    FROM webhook_events WHERE outcome = 'applied'
    ORDER BY processed_at DESC, created_at DESC, seq DESC LIMIT 1`;
  const [hour] = await h.prisma.$queryRaw<Array<{ n: number; p50: number; p95: number; max: number }>>`
    SELECT count(*)::int AS n,
           round(percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - created_at) * 1000))::int AS p50,
           round(percentile_disc(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - created_at) * 1000))::int AS p95,
           round(max(extract(epoch FROM processed_at - created_at) * 1000))::int AS max
    FROM webhook_events WHERE outcome = 'applied' AND processed_at > now() - interval '1 hour'`;
  await page.waitForFunction(
    (id) => (globalThis as any).document.getElementById('webhooks').dataset.lastEvent === id, // eslint-disable-line @typescript-eslint/no-explicit-any
    last!.id,
  );
  expect(await page.locator('#webhooks').isVisible()).toBe(true);
  expect(await page.locator('#webhooks-last').innerText()).toMatch(
    new RegExp(`^Last event applied \\S+( \\S+)? ago, ${secondsText(last!.lag).replace('.', '\\.')} after Upvest created it$`),
  );
  expect(await page.locator('#webhooks-detail').innerText()).toBe(`${last!.type}, applied ${last!.processed} UTC.`);
  expect(await page.locator('#webhooks-hour').innerText()).toBe(
    `Last hour: ${fmt(hour!.n)} applied · lag p50 ${secondsText(hour!.p50)} · p95 ${secondsText(hour!.p95)} · max ${secondsText(hour!.max)}`,
  );
  expect(await page.locator('#webhooks-pending').innerText()).toBe('Pending: none');
  expect(await page.locator('#webhooks-rejected').innerText()).toBe('Rejected in the last hour: none');
}

describe('the status page', () => {
  it("shows the mirror's figures, as SQL counts them, on a laptop and on a phone", async () => {
    for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      const { page, errors, close } = await openPage(browser, viewport);
      await page.goto(`${base}/status`);
      await figuresCurrent(page);
      await expectMirrorFigures(page);
      expect(await page.locator('#progress').getAttribute('data-running')).toBe('false');
      // No webhook event was ever stored: no Webhooks section.
      expect(await page.locator('#webhooks').isHidden()).toBe(true);
      // It fits the screen: nothing makes the page itself scroll sideways (wide tables scroll in their own box).
      const widths = await page.evaluate(() => ({
        scroll: (globalThis as any).document.scrollingElement.scrollWidth as number, // eslint-disable-line @typescript-eslint/no-explicit-any
        inner: (globalThis as any).innerWidth as number, // eslint-disable-line @typescript-eslint/no-explicit-any
      }));
      expect(widths.inner, name).toBe(viewport.width);
      expect(widths.scroll, name).toBeLessThanOrEqual(widths.inner);
      await screenshot(page, `status-page-${name}`);
      expect(errors).toEqual([]);
      await close();
    }
  });

  it('is served under its Content-Security-Policy, which the browser enforces: no inline script, nothing from elsewhere', async () => {
    const { page, close } = await openPage(browser, PHONE);
    const response = await page.goto(`${base}/status`);
    expect(response!.headers()['content-security-policy']).toBe(
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    await figuresCurrent(page);
    // What an injection would try, each refused by the policy, not by anything else.
    const probe = await page.evaluate(async () => {
      const g = globalThis as any; // eslint-disable-line @typescript-eslint/no-explicit-any
      const violations: string[] = [];
      g.document.addEventListener('securitypolicyviolation', (event: { violatedDirective: string }) => violations.push(event.violatedDirective));
      const inline = g.document.createElement('script');
      inline.textContent = 'globalThis.injected = true;';
      g.document.body.append(inline);
      const handler = g.document.createElement('img');
      handler.setAttribute('onerror', 'globalThis.injected = true;');
      handler.src = 'data:,not-an-image';
      g.document.body.append(handler);
      let foreign = 'fetched';
      await g.fetch('http://127.0.0.2:9/elsewhere').catch(() => (foreign = 'refused'));
      const external = g.document.createElement('script');
      external.src = 'http://127.0.0.2:9/elsewhere.js';
      const loaded = await new Promise<string>((resolve) => {
        external.onload = () => resolve('loaded');
        external.onerror = () => resolve('refused');
        g.document.body.append(external);
      });
      // Violations are reported as events after the fact: wait for the three kinds, up to a deadline.
      for (const deadline = Date.now() + 5000; new Set(violations).size < 3 && Date.now() < deadline; ) {
        await new Promise((resolve) => g.setTimeout(resolve, 10));
      }
      return { injected: g.injected === true, foreign, loaded, violations: [...new Set(violations)].sort() };
    });
    expect(probe).toEqual({
      injected: false,
      foreign: 'refused',
      loaded: 'refused',
      violations: ['connect-src', 'script-src-attr', 'script-src-elem'],
    });
    await close();
  });

  it('starts the value axis of every bar chart at zero, however long the shortest bar (issue 25)', async () => {
    const { page, errors, close } = await openPage(browser, DESKTOP);
    // The worker's own answer, with the runs made to last between 0.5 s and 0.6 s: an axis left
    // to fit the data would start near 0.5 s and draw the shortest bar empty.
    await page.route('**/status/api/live', async (route) => {
      const response = await route.fetch();
      const live = (await response.json()) as { runs: Array<{ durationMs: number }> };
      live.runs.forEach((run, i) => (run.durationMs = 500 + ((i * 37) % 100)));
      await route.fulfill({ response, json: live });
    });
    await page.goto(`${base}/status`);
    await figuresCurrent(page);
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('runs-chart').dataset.drawn) > 0); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(await page.locator('#runs-chart').getAttribute('data-value-min')).toBe('0');
    expect(await page.locator('#changes-chart').getAttribute('data-value-min')).toBe('0');
    expect(errors).toEqual([]);
    await close();
  });

  it('shows how long webhook events took to reach the mirror once a receiver applies them, as SQL computes it', async () => {
    const receiverEnv = { ...env, WEBHOOK_RECEIVER_HOST: '127.0.0.1', WEBHOOK_RECEIVER_PORT: '0', WEBHOOK_RECEIVER_HEALTH_PORT: '0' };
    receiver = spawnCli(['receiver'], receiverEnv);
    const listening = await receiver.waitForLog((line) => line.msg?.includes('webhook receiver listening on') ?? false, 'the receiver');
    const register = spawnCli(['webhooks', 'register', '--url', `http://127.0.0.1:${listening.port as number}/webhooks/upvest`], receiverEnv);
    expect((await register.exited).code).toBe(0);

    const { page, errors, close } = await openPage(browser, DESKTOP);
    await page.goto(`${base}/status`);
    await figuresCurrent(page);
    const active = h.simulator.dataset.list().filter((account) => account.status === 'ACTIVE');
    for (const account of active.slice(0, 5)) h.simulator.dataset.setStatus(account.id, 'LOCKED');
    h.simulator.dataset.rename(active[5]!.id, 'Renamed by a webhook');
    await expectWebhookFigures(page);
    expect(await page.locator('#webhooks').getAttribute('data-state')).toBe('ok');
    // The status changes it applied are in the mirror's figures too.
    await figuresCurrent(page);
    await expectMirrorFigures(page);
    await screenshot(page, 'status-page-webhooks');
    expect(errors).toEqual([]);
    await close();
  });

  it("puts a failed run's stored error one click away", async () => {
    const [failed] = await h.prisma.$queryRaw<Array<{ id: string; error: string }>>`
      SELECT id::text, error FROM sync_runs WHERE status = 'failed'`;
    const { page, errors, close } = await openPage(browser, DESKTOP);
    await page.goto(`${base}/status`);
    const row = page.locator(`#runs-table tr[data-run-id="${failed!.id}"]`);
    await row.locator('summary').waitFor();
    expect(await row.locator('pre').isVisible()).toBe(false);
    await row.locator('summary').click();
    // The stored error, without hosts, addresses or paths (this one has none to drop).
    expect(publicText(failed!.error)).toBe(failed!.error);
    expect(await row.locator('pre').innerText()).toBe(failed!.error);
    // It stays open across the next poll, which draws the table afresh.
    const drawn = Number(await page.locator('#runs-chart').getAttribute('data-drawn'));
    await page.waitForFunction(
      (before) => Number((globalThis as any).document.getElementById('runs-chart').dataset.drawn) > before, // eslint-disable-line @typescript-eslint/no-explicit-any
      drawn,
    );
    expect(await row.locator('pre').isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await close();
  });

  it('moves the progress bar while a run walks, then shows its outcome', async () => {
    const { page, errors, close } = await openPage(browser, DESKTOP);
    await page.goto(`${base}/status`);
    await figuresCurrent(page);
    h.simulator.dataset.applyRandomChanges({ seed: 5, statusChanges: 40, removals: 6 });
    // Pages one at a time, held at the simulator's door: the bar moves only when the test lets
    // the next page through (a page commits once the one after it has been read).
    const hold = h.simulator.faults.hold('/accounts', { after: 2 });
    const listed = h.simulator.dataset.list().length;
    const run = h.sync({ env: { SYNC_CONCURRENCY: '1' }, mode: 'full' });
    let summary: Awaited<typeof run>;
    try {
      const bar = page.locator('#progress-bar');
      await hold.arrived();
      await page.waitForFunction(progressAbove, 0, { polling: 50 });
      const first = Number(await bar.getAttribute('aria-valuenow'));
      expect(Number(await bar.getAttribute('aria-valuemax'))).toBe(listed);
      hold.releaseSome(1);
      await hold.arrived();
      await page.waitForFunction(progressAbove, first, { polling: 50 });
      const second = Number(await bar.getAttribute('aria-valuenow'));
      expect(second).toBeLessThan(listed);
      expect(await page.locator('#progress-text').innerText()).toMatch(
        new RegExp(`^Run #\\d+ \\(full\\), started .* UTC: \\d+ pages, [\\d,]+ of ${fmt(listed)} accounts \\(\\d+\\.\\d%\\)$`),
      );
      await screenshot(page, 'status-page-run-in-progress');
    } finally {
      hold.release();
      summary = await run;
    }
    expect(summary).toMatchObject({ status: 'succeeded', deletions: 6 });

    await page.waitForFunction(runFinished);
    await figuresCurrent(page);
    await expectMirrorFigures(page);
    // The receiver applied the changes before the run saw them.
    await expectWebhookFigures(page);
    expect(await page.locator(`#runs-table tr[data-run-id="${summary.runId}"] td.outcome`).innerText()).toBe('succeeded');
    expect(errors).toEqual([]);
    await close();
  });
});

describe('the queue dashboard (Bull Board), with BULL_BOARD_ENABLED', () => {
  it('shows the sync queue read-only at /admin/queues', async () => {
    const html = await httpGet(`${base}/admin/queues`);
    expect(html.status).toBe(200);
    expect(html.body).toContain('<title>account-sync queue</title>');
    const api = await httpGet(`${base}/admin/queues/api/queues?activeQueue=${QUEUE_NAME}&status=completed&page=1`);
    expect(api.status).toBe(200);
    const queues = (JSON.parse(api.body) as { queues: Array<{ name: string; readOnlyMode: boolean }> }).queues;
    expect(queues.map((queue) => [queue.name, queue.readOnlyMode])).toEqual([[QUEUE_NAME, true]]);
    // Refused by the health server before Bull Board sees it (Bull Board's own read-only mode,
    // with nothing in front of it: test/status-page/queue-dashboard.test.ts).
    for (const method of ['PUT', 'POST', 'DELETE']) {
      expect((await fetch(`${base}/admin/queues/api/queues/${QUEUE_NAME}/pause`, { method })).status).toBe(405);
    }
    expect(await q.queue.isPaused()).toBe(false);
  });

  it('draws its user interface under its Content-Security-Policy, fetching nothing from elsewhere', async () => {
    const { page, errors, close } = await openPage(browser, DESKTOP);
    const elsewhere: string[] = [];
    // A request the policy refuses is reported, but never answered.
    page.on('response', (response) => {
      if (!response.url().startsWith(base)) elsewhere.push(response.url());
    });
    await page.goto(`${base}/admin/queues`);
    await page.getByText(QUEUE_NAME, { exact: true }).first().waitFor();
    expect(await page.title()).toBe('account-sync queue');
    // Its stylesheet link to Google Fonts is refused by the policy (system fonts instead); nothing else is.
    expect(errors.filter((error) => !error.includes('https://fonts.googleapis.com/'))).toEqual([]);
    expect(elsewhere).toEqual([]);
    await close();
  });
});
