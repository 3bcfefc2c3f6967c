// The console's only script: actions as same-origin JSON requests, live refresh of pages with a running job,
// and the editor's live validation. It builds every piece of text with textContent, never innerHTML.

const LIVE_REFRESH_MS = 1000;
const VALIDATE_DELAY_MS = 300;

function showMessage(text, kind) {
  const box = document.getElementById('message');
  if (!box) return;
  box.textContent = text;
  box.className = `message ${kind || ''}`;
  box.hidden = false;
}

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body || {}),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok && !Array.isArray(answer?.problems)) {
    const error = answer?.error || {};
    throw new Error(`${error.code || res.status}: ${error.message || res.statusText}`);
  }
  return answer;
}

function path(...parts) {
  return `/${parts.map(encodeURIComponent).join('/')}`;
}

function renderProblems(problems) {
  const box = document.getElementById('problems');
  const validity = document.getElementById('validity');
  if (!box || !validity) return;
  box.replaceChildren();
  const errors = problems.filter((p) => p.severity === 'error').length;
  validity.textContent = errors
    ? `${errors} error(s)`
    : problems.length
      ? `valid, ${problems.length} warning(s)`
      : 'valid';
  validity.className = errors ? 'invalid' : 'valid';
  const list = document.createElement('ul');
  list.className = 'problems';
  for (const p of problems) {
    const item = document.createElement('li');
    item.className = `problem problem-${p.severity}`;
    const code = document.createElement('code');
    code.textContent = p.code;
    item.append(code, ` ${p.message} `);
    const where = document.createElement('span');
    where.className = 'where';
    where.textContent = [p.stepId === undefined ? '' : `step “${p.stepId}”`, p.path].filter(Boolean).join(' ');
    item.append(where);
    if (p.expected) item.append(` expected ${p.expected}`);
    if (p.received) item.append(`, received ${p.received}`);
    list.append(item);
  }
  box.append(list);
}

async function act(button) {
  const data = button.dataset;
  switch (data.action) {
    case 'run': {
      const form = button.closest('form.run');
      const body = {};
      if (data.test === 'true') body.test = true;
      else if (form) {
        if (form.elements.fullExtract.checked) body.fullExtract = true;
        const limit = form.elements.limit.value;
        if (limit !== '') body.limit = Number(limit);
        if (data.dryrun === 'true') body.dryRun = true;
      }
      const { jobId } = await post(`${path('api', 'dataflows', data.dataflow)}/run`, body);
      location.assign(path('jobs', jobId));
      return;
    }
    case 'stop':
      await post(`${path('api', 'jobs', data.job)}/stop`);
      location.reload();
      return;
    case 'schedule':
      await post(`${path('api', 'dataflows', data.dataflow)}/schedules`, {
        schedule: data.schedule,
        enabled: data.enabled === 'true',
      });
      location.reload();
      return;
    case 'duplicate': {
      const { id } = await post(`${path('api', 'dataflows', data.dataflow)}/duplicate`);
      location.assign(path('dataflows', id));
      return;
    }
  }
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button || button.type === 'submit') return;
  event.preventDefault();
  button.disabled = true;
  act(button).catch((error) => {
    button.disabled = false;
    showMessage(error.message, 'error');
  });
});

const create = document.getElementById('create');
if (create) {
  create.addEventListener('submit', (event) => {
    event.preventDefault();
    const [integration, direction] = create.elements.template.value.split('|');
    const body = { integration, direction, id: create.elements.id.value };
    if (create.elements.name.value) body.name = create.elements.name.value;
    post('/api/dataflows', body)
      .then(({ id }) => location.assign(`${path('dataflows', id)}/edit`))
      .catch((error) => showMessage(error.message, 'error'));
  });
}

const editor = document.getElementById('editor');
if (editor) {
  const id = editor.dataset.dataflow;
  const text = editor.elements.text;
  let timer;
  let asked = 0;
  const validate = () => {
    const mine = ++asked;
    post('/api/validate', { id, text: text.value })
      .then((answer) => {
        if (mine === asked) renderProblems(answer.problems);
      })
      .catch((error) => showMessage(error.message, 'error'));
  };
  text.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(validate, VALIDATE_DELAY_MS);
  });
  editor.addEventListener('submit', (event) => {
    event.preventDefault();
    post(`${path('api', 'dataflows', id)}/save`, { text: text.value })
      .then((answer) => {
        if (answer.valid) location.assign(path('dataflows', id));
        else {
          renderProblems(answer.problems);
          showMessage('not saved: the dataflow has errors', 'error');
        }
      })
      .catch((error) => showMessage(error.message, 'error'));
  });
  validate();
}

if (document.body.dataset.live) setTimeout(() => location.reload(), LIVE_REFRESH_MS);
