/**
 * The malformed-dataflow corpus: dataflows a hostile or careless author could write, each with the exact error
 * codes `idx validate` must answer with. Generated from one valid dataflow, so each case differs from a valid
 * file by the one thing it tests.
 */

/** One malformed dataflow: its file name, its text, and the error codes it must produce (and no others). */
export interface MalformedCase {
  readonly name: string;
  readonly text: string;
  readonly codes: readonly string[];
}

type Json = Record<string, unknown>;
type StepJson = { id: string; type: string; params?: Json; next?: unknown; error?: unknown } & Json;
type Flow = { id?: unknown; name?: unknown; steps: StepJson[]; schedules?: unknown[] } & Json;

/** A valid dataflow: Gigya accounts → rename → CSV → gzip → SFTP (the embedded server in local mode). */
export function validCorpusBase(): Flow {
  return {
    id: 'corpus',
    name: 'Corpus base',
    steps: [
      {
        id: 'account',
        type: 'datasource.read.gigya.account',
        params: { select: 'UID,profile.email' },
        next: ['rename'],
      },
      {
        id: 'rename',
        type: 'field.rename',
        params: { fields: [{ sourceField: 'profile.email', targetField: 'EMAIL' }] },
        next: ['dsv'],
      },
      { id: 'dsv', type: 'file.format.dsv', params: { fileName: 'accounts_${now}.csv' }, next: ['gzip'] },
      { id: 'gzip', type: 'file.compress.gzip', next: ['sftp'] },
      { id: 'sftp', type: 'datasource.write.sftp', params: { host: '', remotePath: 'out' } },
    ],
    schedules: [
      { name: 'nightly', frequencyType: 'day', frequencyInterval: 1, nextJobStartTime: '2026-01-01 02:00:00' },
    ],
  };
}

/** A valid dataflow that reads files: SFTP → gzip → SFTP. */
function sftpBase(readParams: Json): Flow {
  return {
    name: 'SFTP copy',
    steps: [
      {
        id: 'read',
        type: 'datasource.read.sftp',
        params: { host: '', remotePath: 'in', ...readParams },
        next: ['gzip'],
      },
      { id: 'gzip', type: 'file.compress.gzip', next: ['write'] },
      { id: 'write', type: 'datasource.write.sftp', params: { host: '', remotePath: 'out' } },
    ],
  };
}

const step = (flow: Flow, id: string): StepJson => flow.steps.find((s) => s.id === id) as StepJson;

/** The base changed by `edit` (which may return a replacement). */
function edited(edit: (flow: Flow) => unknown): string {
  const flow = validCorpusBase();
  const out = edit(flow);
  return JSON.stringify(out === undefined ? flow : out);
}

/** Sets a param, also one named `__proto__` (which an assignment would take as a prototype). */
function withParam(flow: Flow, id: string, key: string, value: unknown): void {
  const s = step(flow, id);
  s.params ??= {};
  Object.defineProperty(s.params, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Renames a step and every edge that names it. */
function renameStep(flow: Flow, from: string, to: string): void {
  for (const s of flow.steps) {
    if (s.id === from) s.id = to;
    if (Array.isArray(s.next)) s.next = s.next.map((x) => (x === from ? to : x));
  }
}

/** Replaces gzip by a chain of `n` gzip steps g0 → … → g(n-1) → sftp. */
function longChain(flow: Flow, n: number): StepJson[] {
  step(flow, 'dsv').next = ['g0'];
  const chain: StepJson[] = [];
  for (let i = 0; i < n; i++)
    chain.push({ id: `g${i}`, type: 'file.compress.gzip', next: [i < n - 1 ? `g${i + 1}` : 'sftp'] });
  flow.steps.splice(3, 1, ...chain);
  return chain;
}

function nested(depth: number): Json {
  const root: Json = {};
  let at = root;
  for (let i = 0; i < depth; i++) {
    const inner: Json = {};
    at.a = inner;
    at = inner;
  }
  return root;
}

function schedule(fields: Json): (flow: Flow) => void {
  return (flow) => {
    flow.schedules = [{ name: 'nightly', frequencyType: 'day', frequencyInterval: 1, ...fields }];
  };
}

/** Armor of a private key (its body is not a key: validation must refuse it on the armor line alone). */
export const PRIVATE_KEY_BODY = 'lQOYBGSecretMaterialThatMustNeverBeEchoed0123456789abcdef';
const PRIVATE_KEY = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${PRIVATE_KEY_BODY}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n`;

/** Inserts a `file.encrypt.pgp` step between gzip and sftp. */
function withPgp(publicKey: string): (flow: Flow) => void {
  return (flow) => {
    step(flow, 'gzip').next = ['pgp'];
    flow.steps.splice(4, 0, { id: 'pgp', type: 'file.encrypt.pgp', params: { publicKey }, next: ['sftp'] });
  };
}

/** Every case of the corpus. */
export function malformedDataflows(): MalformedCase[] {
  const cases: MalformedCase[] = [];
  const add = (name: string, codes: string[], text: string) => cases.push({ name, text, codes });
  const edit = (name: string, codes: string[], change: (flow: Flow) => unknown) => add(name, codes, edited(change));

  // The file and the dataflow object.
  add('json-truncated', ['IDX_JSON_SYNTAX'], '{"name": "x", "steps": [');
  add('json-trailing-comma', ['IDX_JSON_SYNTAX'], '{"name": "x", "steps": [],}');
  add('json-array', ['IDX_DATAFLOW_SHAPE'], '[]');
  add('json-string', ['IDX_DATAFLOW_SHAPE'], '"a dataflow"');
  edit('name-missing', ['IDX_DATAFLOW_SHAPE'], (f) => {
    delete f.name;
  });
  edit('name-blank', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.name = '   ';
  });
  edit('name-number', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.name = 42;
  });
  edit('description-object', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.description = { text: 'x' };
  });
  edit('id-empty', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.id = '';
  });
  edit('id-10000-characters', ['IDX_DATAFLOW_LIMIT'], (f) => {
    f.id = 'd'.repeat(10_000);
  });
  edit('id-multibyte-over-2048-bytes', ['IDX_DATAFLOW_LIMIT'], (f) => {
    f.id = 'é'.repeat(1_100);
  });
  edit('last-runtime-not-a-time', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.lastRuntime = 'yesterday';
  });
  edit('steps-missing', ['IDX_DATAFLOW_SHAPE'], (f) => ({ name: f.name }));
  edit('steps-empty', ['IDX_DATAFLOW_SHAPE'], (f) => {
    f.steps = [];
  });
  edit('steps-object', ['IDX_DATAFLOW_SHAPE'], (f) => ({ ...f, steps: { account: f.steps[0] } }));

  // Steps.
  edit('step-number', ['IDX_STEP_SHAPE'], (f) => ({ ...f, steps: [...f.steps, 42] }));
  edit('step-without-id', ['IDX_STEP_SHAPE'], (f) => {
    f.steps.push({ type: 'field.remove' } as StepJson);
  });
  edit('step-without-type', ['IDX_STEP_SHAPE'], (f) => {
    f.steps.push({ id: 'x' } as StepJson);
  });
  edit('step-params-array', ['IDX_STEP_SHAPE'], (f) => {
    step(f, 'gzip').params = [] as never;
  });
  edit('step-next-string', ['IDX_STEP_SHAPE'], (f) => {
    step(f, 'sftp').next = 'nothing';
  });
  edit('step-next-number', ['IDX_STEP_SHAPE'], (f) => {
    step(f, 'sftp').next = [1];
  });
  edit('step-id-duplicate', ['IDX_STEP_DUPLICATE_ID'], (f) => {
    f.steps.push({ id: 'gzip', type: 'file.compress.gzip' });
  });
  edit('step-type-unknown', ['IDX_STEP_TYPE_UNKNOWN'], (f) => {
    step(f, 'gzip').type = 'file.compress.rar';
  });
  edit('step-type-not-implemented', ['IDX_STEP_TYPE_NOT_IMPLEMENTED'], (f) => {
    step(f, 'account').type = 'datasource.read.marketo';
  });
  for (const reserved of ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
    edit(`step-id-${reserved}`, ['IDX_NAME_RESERVED'], (f) => renameStep(f, 'gzip', reserved));
  }
  // The renamed step is then cut off from the entry: three problems, each naming the id.
  edit(
    'step-id-with-newline-and-ansi',
    ['IDX_EDGE_MISSING_STEP', 'IDX_GRAPH_MULTIPLE_ENTRIES', 'IDX_GRAPH_UNREACHABLE'],
    (f) => {
      renameStep(f, 'gzip', 'gzip\n\u001b[31mred\u001b[0m');
      step(f, 'dsv').next = ['gzip\n\u001b[2Jcleared'];
    },
  );

  // Params.
  edit('param-unknown', ['IDX_PARAM_UNKNOWN'], (f) => withParam(f, 'dsv', 'filename', 'a.csv'));
  edit('param-type', ['IDX_PARAM_TYPE'], (f) => withParam(f, 'dsv', 'fileName', 5));
  edit('param-missing', ['IDX_PARAM_MISSING'], (f) => {
    step(f, 'dsv').params = {};
  });
  edit('param-port-out-of-range', ['IDX_PARAM_VALUE'], (f) => withParam(f, 'sftp', 'port', 70_000));
  edit('param-port-fraction', ['IDX_PARAM_TYPE'], (f) => withParam(f, 'sftp', 'port', 22.5));
  edit('param-fields-not-array', ['IDX_PARAM_TYPE'], (f) => withParam(f, 'rename', 'fields', 'EMAIL'));
  edit('param-nested-unknown', ['IDX_PARAM_UNKNOWN'], (f) =>
    withParam(f, 'rename', 'fields', [{ sourceField: 'a', targetField: 'b', target: 'c' }]),
  );
  edit('param-__proto__', ['IDX_NAME_RESERVED'], (f) => withParam(f, 'dsv', '__proto__', { fileName: 'x.csv' }));
  for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
    edit(`param-${name}`, ['IDX_PARAM_UNKNOWN'], (f) => withParam(f, 'dsv', name, 'x'));
  }
  edit('params-nested-3000-deep', ['IDX_DATAFLOW_LIMIT'], (f) => withParam(f, 'rename', 'deep', nested(3_000)));
  edit('params-nested-65-deep', ['IDX_DATAFLOW_LIMIT'], (f) => withParam(f, 'rename', 'deep', nested(65)));
  edit('file-name-2-megabytes', ['IDX_DATAFLOW_LIMIT'], (f) => withParam(f, 'dsv', 'fileName', 'n'.repeat(2 << 20)));
  edit('step-id-2-megabytes', ['IDX_DATAFLOW_LIMIT'], (f) => renameStep(f, 'gzip', 'g'.repeat(2 << 20)));
  edit('split-into-2000-branches', ['IDX_DATAFLOW_LIMIT'], (f) => {
    const branches = Array.from({ length: 2_000 }, (_, i) => `r${i}`);
    step(f, 'account').next = [...(step(f, 'account').next as string[]), ...branches];
    for (const id of branches) f.steps.push({ id, type: 'field.remove', params: { fields: ['a'] } });
  });
  edit('credential-in-clear', ['IDX_CREDENTIAL_PLAINTEXT'], (f) => withParam(f, 'sftp', 'password', 'hunter2'));
  edit('private-key-as-public-key', ['IDX_CREDENTIAL_PLAINTEXT'], withPgp(PRIVATE_KEY));
  edit('private-key-in-a-file-name', ['IDX_CREDENTIAL_PLAINTEXT'], (f) => withParam(f, 'dsv', 'fileName', PRIVATE_KEY));
  edit('public-key-not-armored', ['IDX_PARAM_VALUE'], withPgp('not a key'));
  edit(
    'public-key-not-base64',
    ['IDX_PARAM_VALUE'],
    withPgp('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n%%% not base64 %%%\n-----END PGP PUBLIC KEY BLOCK-----'),
  );
  edit(
    'public-key-not-a-key-packet',
    ['IDX_PARAM_VALUE'],
    withPgp('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\naGVsbG8gd29ybGQ=\n-----END PGP PUBLIC KEY BLOCK-----'),
  );
  edit('host-key-fingerprint-not-a-fingerprint', ['IDX_PARAM_VALUE'], (f) =>
    withParam(f, 'sftp', 'hostKeyFingerprint', 'not-a-fingerprint'),
  );
  edit('host-key-fingerprint-short-hex', ['IDX_PARAM_VALUE'], (f) =>
    withParam(f, 'sftp', 'hostKeyFingerprint', 'ab:cd:ef'),
  );
  edit('placeholder-unknown', ['IDX_PLACEHOLDER_UNKNOWN'], (f) => withParam(f, 'dsv', 'fileName', 'a_${nope}.csv'));
  add('file-name-regex-invalid', ['IDX_REGEX_INVALID'], JSON.stringify(sftpBase({ fileNameRegex: '(' })));
  add('move-without-folder', ['IDX_PARAM_MISSING'], JSON.stringify(sftpBase({ afterRead: 'move' })));

  // The graph.
  edit('next-duplicate', ['IDX_EDGE_DUPLICATE'], (f) => {
    step(f, 'account').next = ['rename', 'rename'];
  });
  edit('error-duplicate', ['IDX_EDGE_DUPLICATE'], (f) => {
    step(f, 'rename').error = ['rejects', 'rejects'];
    f.steps.push({ id: 'rejects', type: 'field.remove', params: { fields: ['a'] } });
  });
  edit('next-missing-step', ['IDX_EDGE_MISSING_STEP'], (f) => {
    step(f, 'sftp').next = ['archive'];
  });
  edit('edge-records-into-files', ['IDX_EDGE_KIND'], (f) => {
    step(f, 'account').next = ['rename', 'gz2'];
    f.steps.push({ id: 'gz2', type: 'file.compress.gzip' });
  });
  edit('error-path-from-file-step', ['IDX_EDGE_ERROR_PATH'], (f) => {
    step(f, 'gzip').error = ['rejects'];
    f.steps.push({ id: 'rejects', type: 'field.remove', params: { fields: ['a'] } });
  });
  edit('cycle', ['IDX_GRAPH_CYCLE'], (f) => {
    step(f, 'rename').next = ['dsv', 'again'];
    f.steps.push({ id: 'again', type: 'field.remove', params: { fields: ['a'] }, next: ['rename'] });
  });
  edit('cycle-through-5000-steps', ['IDX_GRAPH_CYCLE'], (f) => {
    (longChain(f, 5_000).at(-1) as StepJson).next = ['sftp', 'g0'];
  });
  edit('chain-of-5000-steps-to-nowhere', ['IDX_EDGE_MISSING_STEP'], (f) => {
    (longChain(f, 5_000).at(-1) as StepJson).next = ['sftp', 'nowhere'];
  });
  edit('no-entry', ['IDX_GRAPH_NO_ENTRY', 'IDX_GRAPH_CYCLE'], (f) => {
    step(f, 'sftp').next = ['account'];
  });
  edit('two-entries', ['IDX_GRAPH_MULTIPLE_ENTRIES'], (f) => {
    f.steps.push({ id: 'account2', type: 'datasource.read.gigya.account', params: { select: 'UID' } });
  });
  edit('unreachable-island', ['IDX_GRAPH_UNREACHABLE', 'IDX_GRAPH_CYCLE'], (f) => {
    f.steps.push({ id: 'x', type: 'field.remove', params: { fields: ['a'] }, next: ['y'] });
    f.steps.push({ id: 'y', type: 'field.remove', params: { fields: ['a'] }, next: ['x'] });
  });
  edit('entry-needs-input', ['IDX_GRAPH_ENTRY_KIND'], (f) => {
    f.steps.shift();
  });

  // Schedules.
  edit('schedules-object', ['IDX_SCHEDULE_SHAPE'], (f) => {
    f.schedules = { nightly: {} } as never;
  });
  edit('schedule-number', ['IDX_SCHEDULE_SHAPE'], (f) => {
    f.schedules = [7];
  });
  edit('schedule-month-13-hour-25', ['IDX_SCHEDULE_FIELD'], schedule({ nextJobStartTime: '2026-13-45 25:61:00' }));
  edit('schedule-30-february', ['IDX_SCHEDULE_FIELD'], schedule({ nextJobStartTime: '2026-02-30 10:00:00' }));
  edit('schedule-29-february-2027', ['IDX_SCHEDULE_FIELD'], schedule({ nextJobStartTime: '2027-02-29T10:00:00Z' }));
  edit('schedule-words', ['IDX_SCHEDULE_FIELD'], schedule({ nextJobStartTime: 'tomorrow at two' }));
  edit('schedule-frequency-unknown', ['IDX_SCHEDULE_FIELD'], schedule({ frequencyType: 'yearly' }));
  edit('schedule-interval-zero', ['IDX_SCHEDULE_FIELD'], schedule({ frequencyInterval: 0 }));
  edit('schedule-limit-negative', ['IDX_SCHEDULE_FIELD'], schedule({ limit: -1 }));
  edit('schedule-enabled-string', ['IDX_SCHEDULE_FIELD'], schedule({ enabled: 'yes' }));
  edit('schedule-email-invalid', ['IDX_SCHEDULE_FIELD'], schedule({ failureEmailNotification: 'ops at example' }));
  edit('schedule-log-level', ['IDX_SCHEDULE_FIELD'], schedule({ logLevel: 'trace' }));
  edit('schedule-name-duplicate', ['IDX_SCHEDULE_FIELD'], (f) => {
    f.schedules = [
      { name: 'n', frequencyType: 'day' },
      { name: 'n', frequencyType: 'hour' },
    ];
  });
  return cases;
}
