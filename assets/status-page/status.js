// account-sync status page. Plain script, no build step: polls /status/api/live (cheap, exact)
// every pollMs, and /status/api/figures (cached on the server) whenever the mirror moved.
// Every figure is written with textContent, never as HTML: a run's error text stays text.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat('en-US');
  const fmt = (n) => number.format(n);
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const countAxis = (extra = {}) => ({ size: 52, values: (u, ticks) => ticks.map((t) => compact.format(t)), ...extra });
  /** A bar's length is its value: a bar chart's value axis starts at zero, whatever the smallest bar. */
  const fromZero = { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] };
  const COLORS = { ACTIVE: '#1a7f37', PENDING_APPROVAL: '#bf8700', LOCKED: '#cf222e', CLOSING: '#8250df', CLOSED: '#6e7781' };
  const PALETTE = ['#2f6fdb', '#e16f24', '#0a7b83', '#a475f9', '#c93c37', '#4d8f00'];
  const colorOf = (status) => COLORS[status] ?? PALETTE[[...status].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % PALETTE.length];
  const utcDate = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');

  const state = { days: Number(new URLSearchParams(location.search).get('days')) || 30, pollMs: 2000, figuresVersion: null, figuresCurrent: false, charts: {} };

  function duration(ms) {
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s % 60).padStart(2, '0')}s`;
  }
  const when = (iso) => (iso ? iso.slice(0, 19).replace('T', ' ') : '');

  async function getJson(url) {
    const response = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderFreshness(live) {
    const section = $('freshness');
    section.dataset.state = live.state;
    const success = live.lastSuccess;
    $('freshness-text').textContent =
      live.state === 'never_succeeded'
        ? 'No run has succeeded yet'
        : `${live.state === 'stale' ? 'Stale' : 'Fresh'}: last successful run #${success.runId} finished ${duration(success.ageMs)} ago`;
    $('freshness-detail').textContent =
      (success ? `Finished ${when(success.finishedAt)} UTC. ` : '') + `Stale after ${duration(live.staleAfterMs)} without a successful run.`;
    $('checked').textContent = `Checked ${when(live.checkedAt)} UTC`;
  }

  /** Shown once webhook_events has a row: how long events take from Upvest to the mirror. */
  function renderWebhooks(live) {
    const section = $('webhooks');
    const lag = live.webhooks;
    section.hidden = !lag;
    if (!lag) return;
    const last = lag.lastApplied;
    const hour = lag.lastHour;
    const pending = lag.pending;
    section.dataset.lastEvent = last ? last.eventId : '';
    section.dataset.state = pending.events > 0 && pending.oldestAgeMs > 60_000 ? 'behind' : 'ok';
    $('webhooks-last').textContent = last
      ? `Last event applied ${duration(last.ageMs)} ago, ${duration(last.lagMs)} after Upvest created it`
      : 'No event applied yet';
    $('webhooks-detail').textContent = last ? `${last.type}, applied ${when(last.processedAt)} UTC.` : '';
    $('webhooks-hour').textContent = hour.applied
      ? `Last hour: ${fmt(hour.applied)} applied · lag p50 ${duration(hour.p50Ms)} · p95 ${duration(hour.p95Ms)} · max ${duration(hour.maxMs)}`
      : 'Last hour: none applied';
    $('webhooks-pending').textContent = pending.events
      ? `Pending: ${fmt(pending.events)}, the oldest created ${duration(pending.oldestAgeMs)} ago`
      : 'Pending: none';
    const rejected = lag.rejectedLastHour;
    $('webhooks-rejected').textContent = rejected.events
      ? `Rejected in the last hour: ${fmt(rejected.events)}, ${fmt(rejected.notOurs)} of them not from our subscriptions`
      : 'Rejected in the last hour: none';
  }

  function renderProgress(live) {
    const run = live.inProgress;
    const bar = $('progress-bar');
    $('progress').dataset.running = String(Boolean(run));
    if (!run) {
      $('progress-text').textContent = 'No run in progress.';
      bar.hidden = true;
      return;
    }
    // A full walk knows its end (the total Upvest listed); an incremental one stops at the watermark.
    const total = run.mode === 'full' && run.totalCount ? run.totalCount : null;
    const pct = total ? Math.min(100, (100 * run.accountsDone) / total) : null;
    $('progress-text').textContent =
      `Run #${run.runId} (${run.mode}), started ${when(run.startedAt)} UTC: ${fmt(run.pagesDone)} pages, ` +
      `${fmt(run.accountsDone)}${total ? ` of ${fmt(total)}` : ''} accounts` + (pct === null ? '' : ` (${pct.toFixed(1)}%)`);
    bar.hidden = false;
    bar.classList.toggle('indeterminate', pct === null);
    bar.setAttribute('aria-valuemax', String(total ?? 0));
    bar.setAttribute('aria-valuenow', String(run.accountsDone));
    bar.firstElementChild.style.width = pct === null ? '' : `${pct}%`;
  }

  function renderRuns(live) {
    const body = $('runs-table').tBodies[0];
    // The table is drawn afresh on every poll: an error someone opened stays open.
    const open = new Set([...body.querySelectorAll('tr[data-run-id] details[open]')].map((d) => d.closest('tr').dataset.runId));
    body.replaceChildren();
    for (const run of live.runs) {
      const row = body.insertRow();
      row.dataset.runId = run.id;
      cell(row, `#${run.id}`, 'num');
      const outcome = cell(row, '', `outcome outcome-${run.status}`);
      // incomplete: the run could not prove it listed every account (it says why).
      if (run.status === 'failed' || run.status === 'incomplete') {
        const details = document.createElement('details');
        const summary = document.createElement('summary');
        summary.textContent = `${run.status}${run.errorCode ? ` (${run.errorCode})` : ''}`;
        const pre = document.createElement('pre');
        pre.textContent = run.error ?? 'no error text was stored';
        details.append(summary, pre);
        details.open = open.has(run.id);
        outcome.append(details);
      } else {
        outcome.textContent = run.status === 'running' ? 'running…' : run.status;
      }
      cell(row, run.mode);
      cell(row, when(run.startedAt));
      cell(row, duration(run.durationMs), 'num');
      for (const n of [run.accountsSeen, run.accountsWritten, run.statusChanges, run.deletions, run.rejectedRecords]) cell(row, fmt(n), 'num');
    }
    const chronological = [...live.runs].reverse();
    plot('runs', [
      chronological.map((r) => Number(r.id)),
      chronological.map((r) => r.durationMs / 1000),
      chronological.map((r) => r.accountsWritten),
      chronological.map((r) => r.statusChanges),
    ], () => ({
      valueScale: 's',
      scales: { x: { time: false }, s: fromZero, n: {} },
      axes: [
        { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? `#${t}` : '')) },
        { scale: 's', label: 'seconds', size: 52 },
        countAxis({ scale: 'n', side: 1, label: 'accounts', grid: { show: false } }),
      ],
      series: [
        { label: 'run', value: (u, v) => (v == null ? '' : `#${v}`) },
        { label: 'duration (s)', scale: 's', stroke: '#2f6fdb', fill: '#2f6fdb55', paths: uPlot.paths.bars({ size: [0.6, 40] }) },
        { label: 'written', scale: 'n', stroke: '#e16f24', width: 2, points: { show: true } },
        { label: 'status changes', scale: 'n', stroke: '#8250df', width: 2, points: { show: true } },
      ],
    }), live.runs.length === 0 ? 'No runs yet.' : null);
  }

  function renderAccounts(figures) {
    $('accounts-live').textContent = fmt(figures.accounts.live);
    $('accounts-deleted').textContent = fmt(figures.accounts.deleted);
    const body = $('accounts-table').tBodies[0];
    body.replaceChildren();
    const max = Math.max(1, ...figures.accounts.byStatus.map((s) => s.accounts));
    for (const { status, accounts } of figures.accounts.byStatus) {
      const row = body.insertRow();
      row.dataset.status = status;
      cell(row, status);
      cell(row, fmt(accounts), 'num');
      const bar = document.createElement('div');
      bar.className = 'share-bar';
      bar.style.width = `${(100 * accounts) / max}%`;
      bar.style.background = colorOf(status);
      bar.title = figures.accounts.live ? `${((100 * accounts) / figures.accounts.live).toFixed(1)}% of live accounts` : '';
      cell(row, '', 'share').append(bar);
    }
  }

  function renderTrend(figures) {
    const days = figures.trend.days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const series = figures.trend.series;
    const lastDay = figures.trend.days[figures.trend.days.length - 1];
    $('trend-today').textContent = series.length
      ? `${lastDay}: ${series.map((s) => `${s.status} ${fmt(s.accounts[s.accounts.length - 1])}`).join(' · ')}`
      : '';
    const began = figures.trend.began;
    const before = began === null ? 0 : figures.trend.days.filter((d) => d < began).length;
    $('trend-began').textContent = began === null ? '' : before > 0 ? `Before ${began} the mirror had not begun: those days are not known.` : '';
    $('trend-chart').dataset.began = began ?? '';
    plot('trend', [days, ...series.map((s) => s.accounts)], () => ({
      tzDate: utcDate,
      series: [{}, ...series.map((s) => ({ label: s.status, stroke: colorOf(s.status), width: 2 }))],
      axes: [{}, countAxis()],
      drawBefore: (u) => shadeBefore(u, began === null ? null : Date.parse(`${began}T00:00:00Z`) / 1000),
    }), began === null ? 'No successful run yet: nothing is known.' : series.length === 0 ? 'No accounts yet.' : null, series.map((s) => s.status).join());
  }

  /** Greys the days before the mirror began, and says so. */
  function shadeBefore(u, beganAt) {
    if (beganAt === null || beganAt <= u.scales.x.min) return;
    const ratio = devicePixelRatio;
    const left = u.bbox.left;
    const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(beganAt, 'x', true));
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = '#8884';
    ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
    ctx.fillStyle = '#666';
    ctx.font = `${12 * ratio}px sans-serif`;
    ctx.textBaseline = 'top';
    if (right - left > 140 * ratio) ctx.fillText('before the mirror began', left + 8 * ratio, u.bbox.top + 8 * ratio);
    ctx.restore();
  }

  function renderChanges(figures) {
    const { hours, changes } = figures.changesPerHour;
    const total = changes.reduce((a, b) => a + b, 0);
    const peak = changes.reduce((best, n, i) => (n > changes[best] ? i : best), 0);
    $('changes-total').textContent = fmt(total);
    $('changes-peak').textContent = total ? `${hours[peak].slice(0, 13).replace('T', ' ')}:00 UTC (${fmt(changes[peak])})` : '–';
    $('changes-chart').dataset.total = String(total);
    plot('changes', [hours.map((h) => Date.parse(h) / 1000), changes], () => ({
      tzDate: utcDate,
      scales: { y: fromZero },
      series: [{}, { label: 'changes', stroke: '#0a7b83', fill: '#0a7b8366', paths: uPlot.paths.bars({ size: [0.9, 20] }) }],
      axes: [{}, countAxis()],
    }), null);
  }

  /** One uPlot per chart, created once (again when its series change) and fed new data after. */
  function plot(name, data, options, emptyText, shape = '') {
    const box = $(`${name}-chart`);
    const existing = state.charts[name];
    if (emptyText) {
      existing?.chart.destroy();
      delete state.charts[name];
      box.replaceChildren(Object.assign(document.createElement('p'), { className: 'empty', textContent: emptyText }));
      return;
    }
    if (existing && existing.shape === shape) return existing.chart.setData(data);
    existing?.chart.destroy();
    box.replaceChildren();
    const size = () => ({ width: Math.max(200, box.clientWidth), height: box.clientWidth < 500 ? 200 : 260 });
    const { valueScale = 'y', drawBefore, ...uplotOptions } = options();
    const drawn = (u) => {
      // Where the value axis starts, for whoever checks the drawing (the browser tests).
      box.dataset.valueMin = String(u.scales[valueScale].min);
      box.dataset.drawn = String(Number(box.dataset.drawn) + 1);
    };
    const hooks = { draw: [drawn], ...(drawBefore ? { drawClear: [drawBefore] } : {}) };
    const chart = new uPlot({ ...size(), ...uplotOptions, hooks }, data, box);
    state.charts[name] = { chart, shape, size };
  }
  new ResizeObserver(() => Object.values(state.charts).forEach((c) => c.chart.setSize(c.size()))).observe(document.querySelector('main'));

  function renderRanges(ranges) {
    const group = $('trend-ranges');
    if (group.childElementCount === ranges.length) return;
    for (const days of ranges) {
      const button = Object.assign(document.createElement('button'), { type: 'button', textContent: days === 365 ? '1 year' : `${days} days` });
      button.dataset.days = String(days);
      button.addEventListener('click', () => {
        state.days = days;
        state.figuresVersion = null;
        void refreshFigures();
      });
      group.append(button);
    }
  }

  async function refreshFigures() {
    const figures = await getJson(`/status/api/figures?days=${state.days}`);
    state.figuresVersion = figures.version;
    state.figuresCurrent = figures.current;
    for (const b of $('trend-ranges').children) b.setAttribute('aria-pressed', String(Number(b.dataset.days) === state.days));
    renderAccounts(figures);
    renderTrend(figures);
    renderChanges(figures);
    $('trend-chart').dataset.days = String(state.days);
    $('figures-as-of').textContent = `Figures as of ${when(figures.computedAt)} UTC${figures.current ? '' : ' (updating…)'}`;
    document.body.dataset.figures = figures.current ? 'current' : 'updating';
    document.body.dataset.figuresVersion = figures.version;
  }

  async function poll() {
    try {
      const live = await getJson('/status/api/live');
      // Before anything else shows the new state: until the figures catch up with this version,
      // the page (and a test waiting on it) must not take the previous figures for current.
      document.body.dataset.liveVersion = live.mirrorVersion;
      state.pollMs = live.pollMs;
      renderRanges(live.trendRanges);
      renderFreshness(live);
      renderWebhooks(live);
      renderProgress(live);
      renderRuns(live);
      const link = $('queue-link');
      link.hidden = !live.queueDashboard;
      if (live.queueDashboard) link.querySelector('a').href = live.queueDashboard;
      if (state.figuresVersion !== live.mirrorVersion || !state.figuresCurrent) await refreshFigures();
    } catch (error) {
      $('freshness').dataset.state = 'unavailable';
      $('checked').textContent = `Not answering (${error.message}); trying again`;
    } finally {
      setTimeout(poll, state.pollMs);
    }
  }
  void poll();
})();
