/**
 * The console's pages as HTML: Dataflows, Dataflow, Jobs, Job, rejected records, and locally New dataflow and the
 * editor. Rendered on the server from what the backend answers; every text is escaped. Actions are buttons that
 * `console.js` turns into same-origin JSON requests; pages with a running job refresh themselves (live progress).
 * No inline script or style, so the Content-Security-Policy allows only the console's own assets.
 */
import type { Problem } from '../dataflow/problems.ts';
import type { DataflowTemplate } from '../dataflow/templates.ts';
import type { JobPage, JobRecord, StepSummary } from '../stores/jobs.ts';
import type { DataflowDetail, DataflowOverview, JobFilter, RejectedRecords } from './backend.ts';
import { graphSvg } from './graph-svg.ts';
import { escapeHtml as e, segment } from './html.ts';
import { jobDurationMs, jobRecords } from './model.ts';

/** Statuses the Jobs filter offers. */
export const JOB_STATUSES = ['running', 'succeeded', 'failed', 'killed'] as const;

function layout(title: string, body: string, options: { live?: boolean; editable: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)} · identity-sync</title><link rel="stylesheet" href="/assets/console.css"><script src="/assets/console.js" defer></script></head>
<body${options.live ? ' data-live="1"' : ''}>
<header><a class="brand" href="/">identity-sync</a><nav><a href="/">Dataflows</a><a href="/jobs">Jobs</a>${
    options.editable ? '<a href="/new">Create Data Flow</a>' : ''
  }</nav></header>
<main><h1>${e(title)}</h1>
${options.editable ? '' : '<p class="note">Deployed, dataflows change through the repository and <code>cdk deploy</code>; this console runs and watches them.</p>'}
<div id="message" class="message" role="status" hidden></div>
${body}</main></body></html>`;
}

/** A time as the console shows it: UTC, to the second. */
function time(iso: string | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t)
    ? e(iso)
    : `<time datetime="${e(iso)}">${new Date(t).toISOString().replace('T', ' ').slice(0, 19)}</time>`;
}

/** A duration: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')} s`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function status(s: string): string {
  return `<span class="status status-${e(s)}">${e(s)}</span>`;
}

function jobLink(id: string | undefined, text?: string): string {
  return id ? `<a href="/jobs/${segment(id)}">${text ?? e(id)}</a>` : (text ?? '');
}

/** A running job's progress: records so far of the announced total. */
function progress(job: JobRecord): string {
  const max = Math.max(job.totalRecords, job.processedRecords, 1);
  return `<span class="progress">${jobLink(job.id, 'running')} <progress value="${job.processedRecords}" max="${max}"></progress> ${job.processedRecords} / ${job.totalRecords} records</span>`;
}

function problemList(problems: readonly Problem[]): string {
  if (problems.length === 0) return '';
  return `<ul class="problems">${problems
    .map(
      (p) =>
        `<li class="problem problem-${p.severity}"><code>${e(p.code)}</code> ${e(p.message)}${
          p.stepId === undefined ? '' : ` <span class="where">step “${e(p.stepId)}”</span>`
        } <span class="where">${e(p.path)}</span>${p.expected ? ` <span class="exp">expected ${e(p.expected)}</span>` : ''}${
          p.received ? ` <span class="exp">received ${e(p.received)}</span>` : ''
        }</li>`,
    )
    .join('')}</ul>`;
}

function schedulesCell(d: DataflowOverview): string {
  if (d.schedules.length === 0) return '<span class="muted">none</span>';
  return d.schedules
    .map(
      (s) =>
        `<div class="schedule">${e(s.name)}: every ${s.frequencyType === 'once' ? 'once' : `${s.frequencyInterval ?? 1} ${e(s.frequencyType)}`} <span class="badge ${s.enabled ? 'on' : 'off'}">${s.enabled ? 'enabled' : 'disabled'}</span></div>`,
    )
    .join('');
}

/** The Dataflows page: IdentitySync's dashboard. */
export function dataflowsPage(dataflows: readonly DataflowOverview[], editable: boolean): string {
  const rows = dataflows.map(
    (d) => `<tr data-dataflow="${e(d.id)}">
<td><a class="name" href="/dataflows/${segment(d.id)}">${e(d.name || d.id)}</a><div class="muted">${e(d.id)}</div>${d.description ? `<div class="description">${e(d.description)}</div>` : ''}</td>
<td class="outline"><code>${e(d.outline)}</code></td>
<td>${schedulesCell(d)}</td>
<td>${d.lastSuccessfulRun ? jobLink(d.lastSuccessfulRun.jobId, time(d.lastSuccessfulRun.time)) : '<span class="muted">never</span>'}</td>
<td>${d.lastTestRun ? jobLink(d.lastTestRun.jobId, time(d.lastTestRun.time)) : '<span class="muted">never</span>'}</td>
<td>${d.nextRun ? time(d.nextRun) : '<span class="muted">not scheduled</span>'}</td>
<td>${d.running ? progress(d.running) : '<span class="muted">idle</span>'}</td>
<td>${d.valid ? (d.problems.length ? `<span class="badge warn">${d.problems.length} warning(s)</span>` : '<span class="badge on">valid</span>') : `<span class="badge bad">${d.problems.filter((p) => p.severity === 'error').length} error(s)</span>`}${
      d.valid ? '' : problemList(d.problems.filter((p) => p.severity === 'error').slice(0, 3))
    }</td>
</tr>`,
  );
  const body = dataflows.length
    ? `<table class="dataflows"><thead><tr><th>Dataflow</th><th>Outline</th><th>Schedules</th><th>Last Successful Run</th><th>Last test run</th><th>Scheduled Next Run</th><th>Now</th><th>Validation</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '<p>No dataflows yet.</p>';
  return layout('Dataflows', body, { live: dataflows.some((d) => d.running), editable });
}

function stepParams(params: Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(params);
  if (entries.length === 0) return '<span class="muted">no params</span>';
  return `<table class="params">${entries
    .map(
      ([k, v]) => `<tr><th>${e(k)}</th><td><code>${e(typeof v === 'string' ? v : JSON.stringify(v))}</code></td></tr>`,
    )
    .join('')}</table>`;
}

function button(action: string, label: string, data: Record<string, string>, extra = ''): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${e(v)}"`)
    .join('');
  return `<button type="button" data-action="${e(action)}"${attrs}${extra}>${e(label)}</button>`;
}

function jobsTable(jobs: readonly JobRecord[], now: number): string {
  if (jobs.length === 0) return '<p class="muted">No jobs.</p>';
  return `<table class="jobs"><thead><tr><th>Job</th><th>Dataflow</th><th>Status</th><th>Kind</th><th>Start (UTC)</th><th>Duration</th><th>Attempts</th><th>Records in</th><th>out</th><th>rejected</th></tr></thead><tbody>${jobs
    .map((j) => {
      const r = jobRecords(j);
      const kind = [
        j.test ? 'test' : '',
        j.dryRun ? 'dry run' : '',
        j.limit !== undefined && !j.test ? `limit ${j.limit}` : '',
        j.fullExtract ? 'full extract' : '',
      ]
        .filter(Boolean)
        .join(', ');
      return `<tr data-job="${e(j.id)}"><td>${jobLink(j.id)}</td><td><a href="/dataflows/${segment(j.dataflowId)}">${e(j.dataflowId)}</a></td><td>${status(j.status)}</td><td>${e(kind)}</td><td>${time(j.startTime)}</td><td>${duration(jobDurationMs(j, now))}</td><td>${j.attemptNumber}</td><td>${r.in}</td><td>${r.out}</td><td>${r.rejected}</td></tr>`;
    })
    .join('')}</tbody></table>`;
}

/** The Dataflow page: graph, steps with masked params, JSON, schedules, actions and recent jobs. */
export function dataflowPage(d: DataflowDetail, editable: boolean, now = Date.now()): string {
  const id = { dataflow: d.id };
  const actions = `<section class="actions">
${button('run', 'Run Test', { ...id, test: 'true' }, d.valid ? '' : ' disabled')}
<form class="run" data-dataflow="${e(d.id)}"><label><input type="checkbox" name="fullExtract"> fullExtract</label>
<label>limit <input type="number" name="limit" min="1" step="1" inputmode="numeric"></label>
${button('run', 'Run now', id, d.valid ? '' : ' disabled')}${button('run', 'Dry run', { ...id, dryrun: 'true' }, d.valid ? '' : ' disabled')}</form>
${d.running ? button('stop', 'Stop', { job: d.running.id }) : ''}
${editable ? button('duplicate', 'Duplicate', id) : ''}
${editable ? `<a class="button" href="/dataflows/${segment(d.id)}/edit">Edit JSON</a>` : ''}
</section>`;
  const schedules = d.schedules.length
    ? `<table class="schedules"><thead><tr><th>Schedule</th><th>Frequency</th><th>fullExtract</th><th>limit</th><th>Next run</th><th>State</th><th></th></tr></thead><tbody>${d.schedules
        .map(
          (s) =>
            `<tr data-schedule="${e(s.name)}"><td>${e(s.name)}</td><td>${s.frequencyType === 'once' ? 'once' : `every ${s.frequencyInterval ?? 1} ${e(s.frequencyType)}`}</td><td>${s.fullExtract ? 'yes' : 'no'}</td><td>${s.limit ?? ''}</td><td>${time(s.nextRun)}</td><td><span class="badge ${s.enabled ? 'on' : 'off'}">${s.enabled ? 'enabled' : 'disabled'}</span></td><td>${button(
              'schedule',
              s.enabled ? 'Disable' : 'Enable',
              {
                ...id,
                schedule: s.id ?? s.name,
                enabled: s.enabled ? 'false' : 'true',
              },
            )}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No schedules.</p>';
  const steps = d.dataflow
    ? d.dataflow.steps
        .map(
          (s) =>
            `<div class="step" data-step="${e(s.id)}"><h3>${e(s.id)} <code class="type">${e(s.type)}</code></h3>${stepParams(s.params)}<p class="edges">${
              s.next.length ? `next: ${s.next.map(e).join(', ')}` : 'end point'
            }${s.error.length ? ` · <span class="error-edge">error: ${s.error.map(e).join(', ')}</span>` : ''}</p></div>`,
        )
        .join('')
    : '';
  const body = `<p class="description">${e(d.description ?? '')}</p>
<p class="muted">id <code>${e(d.id)}</code> · file <code>${e(d.file)}</code> · outline <code>${e(d.outline)}</code></p>
<p>Last Successful Run: ${d.lastSuccessfulRun ? jobLink(d.lastSuccessfulRun.jobId, time(d.lastSuccessfulRun.time)) : 'never'} · Last test run: ${
    d.lastTestRun ? jobLink(d.lastTestRun.jobId, time(d.lastTestRun.time)) : 'never'
  } · Scheduled Next Run: ${d.nextRun ? time(d.nextRun) : 'not scheduled'}${d.running ? ` · ${progress(d.running)}` : ''}</p>
${actions}
${problemList(d.problems)}
<h2>Graph</h2><div class="graph-box">${d.dataflow ? graphSvg(d.dataflow.steps) : '<p class="muted">The file is not a dataflow.</p>'}</div>
<h2>Schedules</h2>${schedules}
<h2>Recent jobs</h2>${jobsTable(d.recentJobs, now)}
<h2>Steps</h2><div class="steps">${steps}</div>
<h2>JSON</h2><pre class="json">${e(d.maskedJson)}</pre>`;
  return layout(d.name || d.id, body, { live: d.running !== undefined, editable });
}

/** The Jobs page with its filter form, and a link to the older jobs when there are more. */
export function jobsPage(
  { jobs, cursor }: JobPage,
  filter: JobFilter,
  dataflowIds: readonly string[],
  editable: boolean,
  now = Date.now(),
): string {
  const option = (value: string, selected: boolean, label = value) =>
    `<option value="${e(value)}"${selected ? ' selected' : ''}>${e(label)}</option>`;
  const form = `<form class="filter" method="get" action="/jobs">
<label>Dataflow <select name="dataflow">${option('', !filter.dataflowId, 'all')}${dataflowIds.map((id) => option(id, filter.dataflowId === id)).join('')}</select></label>
<label>Status <select name="status">${option('', !filter.status, 'any')}${JOB_STATUSES.map((s) => option(s, filter.status === s)).join('')}</select></label>
<label>From (UTC) <input type="datetime-local" name="from" value="${e(filter.from?.slice(0, 16) ?? '')}"></label>
<label>To (UTC) <input type="datetime-local" name="to" value="${e(filter.to?.slice(0, 16) ?? '')}"></label>
<button type="submit">Filter</button></form>`;
  const older = cursor ? `<p class="older"><a href="/jobs?${olderQuery(filter, cursor)}">Older jobs</a></p>` : '';
  return layout('Jobs', `${form}${jobsTable(jobs, now)}${older}`, {
    live: jobs.some((j) => j.status === 'running'),
    editable,
  });
}

/** The query of the older page: the same filter, and the cursor this page ended with. */
function olderQuery(filter: JobFilter, cursor: string): string {
  const query = new URLSearchParams();
  if (filter.dataflowId) query.set('dataflow', filter.dataflowId);
  if (filter.status) query.set('status', filter.status);
  if (filter.from) query.set('from', filter.from);
  if (filter.to) query.set('to', filter.to);
  query.set('cursor', cursor);
  return e(query.toString());
}

function stepRow(jobId: string, s: StepSummary): string {
  const files = (s.files ?? [])
    .map((f) => `<div class="file">${e(f.name)} <span class="muted">(${bytes(f.size)})</span></div>`)
    .join('');
  const would = s.wouldWrite
    ? `<div class="muted">would write ${s.wouldWrite.files.length ? s.wouldWrite.files.map((f) => `${e(f.target)} (${bytes(f.size)})`).join(', ') : `${s.wouldWrite.records} record(s)`}</div>`
    : '';
  const rejected =
    s.recordsRejected > 0 && s.rejectedLocation
      ? `${s.recordsRejected} <a href="/jobs/${segment(jobId)}/rejected/${segment(s.stepId)}">view</a> · <a href="/jobs/${segment(jobId)}/rejected/${segment(s.stepId)}/download" download>download</a>`
      : String(s.recordsRejected);
  return `<tr data-step="${e(s.stepId)}"><td>${e(s.stepId)}${s.running ? ' <span class="badge warn">running</span>' : ''}</td><td><code>${e(s.type)}</code></td><td class="n">${s.recordsIn}</td><td class="n">${s.recordsOut}</td><td class="n rejected">${rejected}</td><td class="n">${s.recordsDropped ?? 0}</td><td class="n">${s.filesIn} / ${s.filesOut}</td><td class="n">${bytes(s.bytesOut)}</td><td class="n">${s.invocations}</td><td class="n">${duration(s.durationMs)}</td><td>${files}${would}</td></tr>`;
}

/** The Job page: status, delta window, per-step counters, files, rejected records and the trace. */
export function jobPage(job: JobRecord, editable: boolean, now = Date.now()): string {
  const r = jobRecords(job);
  const steps = Object.values(job.steps ?? {}).sort((a, b) => a.updateTime.localeCompare(b.updateTime));
  const kind = [
    job.test ? 'test run' : '',
    job.dryRun ? 'dry run' : '',
    job.limit !== undefined ? `limit ${job.limit}` : '',
    job.fullExtract ? 'full extract' : '',
  ]
    .filter(Boolean)
    .join(', ');
  const body = `<dl class="facts">
<dt>Status</dt><dd>${status(job.status)}${job.status === 'running' ? ` ${button('stop', 'Stop', { job: job.id })}` : ''}</dd>
<dt>Dataflow</dt><dd><a href="/dataflows/${segment(job.dataflowId)}">${e(job.dataflowName ?? job.dataflowId)}</a></dd>
<dt>Kind</dt><dd>${e(kind || 'run')}</dd>
<dt>Start</dt><dd>${time(job.startTime)}</dd><dt>End</dt><dd>${time(job.endTime)}</dd>
<dt>Duration</dt><dd>${duration(jobDurationMs(job, now))}</dd>
<dt>Attempts</dt><dd>${job.attemptNumber}</dd>
<dt>Records</dt><dd>${r.in} in, ${r.out} out, ${r.rejected} rejected</dd>
<dt>Delta window</dt><dd>${job.delta ? `${job.delta.from ? time(job.delta.from) : 'the beginning'} → ${time(job.delta.to)}` : 'none (full extract)'}${job.deltaBasis ? ` <span class="muted">(${e(job.deltaBasis)})</span>` : ''}</dd>
${job.error ? `<dt>Error</dt><dd class="error"><code>${e(String(job.error.code ?? job.error.name ?? ''))}</code> ${e(String(job.error.message ?? ''))}</dd>` : ''}
</dl>
<h2>Steps</h2>
<table class="steps-table"><thead><tr><th>Step</th><th>Type</th><th>Records in</th><th>out</th><th>rejected</th><th>dropped</th><th>Files in / out</th><th>Bytes out</th><th>Invocations</th><th>Time</th><th>Files written</th></tr></thead>
<tbody>${steps.map((s) => stepRow(job.id, s)).join('')}</tbody></table>
${(job.attempts ?? []).length ? `<h2>Failed attempts</h2><ul>${(job.attempts ?? []).map((a) => `<li>attempt ${a.attempt}: ${time(a.startTime)} → ${time(a.endTime)} <code>${e(String(a.error.code ?? a.error.name ?? ''))}</code> ${e(String(a.error.message ?? ''))}</li>`).join('')}</ul>` : ''}
<h2>Trace</h2><pre class="trace">${e(job.trace.join('\n'))}</pre>`;
  return layout(`Job ${job.id}`, body, { live: job.status === 'running', editable });
}

/** A step's rejected records, each openable, with the download link. */
export function rejectedPage(jobId: string, stepId: string, page: RejectedRecords, editable: boolean): string {
  const items = page.records.map((rec, i) => {
    const details = (rec._errorDetails ?? {}) as Record<string, unknown>;
    const summary = `${String(details.code ?? 'rejected')}: ${String(details.errorMessage ?? details.message ?? '')}`;
    return `<details class="record" data-index="${i}"><summary>#${i + 1} <code>${e(summary.slice(0, 300))}</code></summary><pre>${e(JSON.stringify(rec, null, 2))}</pre></details>`;
  });
  const body = `<p><a href="/jobs/${segment(jobId)}">back to job ${e(jobId)}</a> · <a href="/jobs/${segment(jobId)}/rejected/${segment(stepId)}/download" download>download all (NDJSON)</a></p>
${items.join('') || '<p class="muted">No rejected records.</p>'}
${page.more ? `<p class="muted">Only the first ${page.records.length} are shown; the download has every one.</p>` : ''}`;
  return layout(`Rejected by ${stepId}`, body, { editable });
}

/** Create Data Flow: a template (integration × direction), an id and a name. */
export function newDataflowPage(templates: readonly DataflowTemplate[]): string {
  const options = templates
    .map(
      (t) =>
        `<option value="${e(`${t.integration}|${t.direction}`)}">${e(`${t.integration} · ${t.direction} — ${t.outline}`)}</option>`,
    )
    .join('');
  const body = `<form class="create" id="create">
<label>Template (integration · direction) <select name="template">${options}</select></label>
<label>Id <input name="id" required pattern="[A-Za-z0-9][A-Za-z0-9_-]*" maxlength="128" placeholder="my-dataflow"></label>
<label>Name <input name="name" maxlength="256"></label>
<button type="submit" data-action="create">Create</button></form>
<table class="templates"><thead><tr><th>Integration</th><th>Direction</th><th>Outline</th><th>From</th></tr></thead><tbody>${templates
    .map(
      (t) =>
        `<tr><td>${e(t.integration)}</td><td>${e(t.direction)}</td><td><code>${e(t.outline)}</code></td><td>${e(t.name)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
  return layout('Create Data Flow', body, { editable: true });
}

/** The editor: the file as JSON, validated as it is typed by the same validator as `idx validate`. */
export function editorPage(id: string, text: string): string {
  const body = `<form class="editor" id="editor" data-dataflow="${e(id)}">
<textarea name="text" spellcheck="false" rows="30">${e(text)}</textarea>
<div class="validation"><p id="validity" class="muted">checking…</p><div id="problems"></div></div>
<button type="submit" data-action="save">Save</button> <a href="/dataflows/${segment(id)}">Cancel</a></form>`;
  return layout(`Edit ${id}`, body, { editable: true });
}

/** An error page (for a page address; requests of the API answer JSON). */
export function errorPage(status: number, code: string, message: string, editable: boolean): string {
  return layout(`${status}`, `<p class="error"><code>${e(code)}</code> ${e(message)}</p>`, { editable });
}
