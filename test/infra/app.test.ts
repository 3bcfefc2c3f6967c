import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatProblem } from '../../lib/dataflow/problems.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { buildApp, propsFromContext } from '../../lib/infra/app.ts';
import { loadDataflowDir } from '../../lib/infra/load.ts';
import { stateMachineName } from '../../lib/infra/names.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { ELOQUA_DEPLOYMENT_PARAMS } from '../support/infra.ts';
import { ALPHA, BETA } from './dataflows.ts';

const ROOT = resolve(__dirname, '../..');

/**
 * Runs the CDK app as `cdk synth` does: a child process with the context and output folder in the environment.
 * Asynchronously: a synth with bundling can take minutes on a loaded machine, and a test worker blocked that long
 * misses its own runner's calls.
 */
function synthApp(
  context: Record<string, unknown>,
  outdir: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bin/app.ts'],
      {
        cwd: ROOT,
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
        timeout: 240_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

function tempDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'idx-infra-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

/** The context cdk.json gives every `cdk` command. */
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

describe('the CDK app', () => {
  it('deploys every dataflow of the dataflows/ folder but the local sample as a state machine, with no cdk-nag finding left', () => {
    // Prepare
    const app = new App({
      context: { ...CDK_CONTEXT, 'identity-sync:params': ELOQUA_DEPLOYMENT_PARAMS, 'aws:cdk:bundling-stacks': [] },
    });
    const files = readdirSync(join(ROOT, 'dataflows')).filter((f) => f.endsWith('.json'));

    // Act
    const stack = buildApp(app);

    // Assess
    const names = Object.values(Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine')).map(
      (r) => (r as { Properties: { StateMachineName: string } }).Properties.StateMachineName,
    );
    const ids = loadDataflowDir(join(ROOT, 'dataflows'), defaultRegistry(), {
      skip: ['sample-s3-csv'],
      params: ELOQUA_DEPLOYMENT_PARAMS,
    }).dataflows.map((d) => d.id);
    expect(ids).toHaveLength(files.length - 1);
    expect(ids).not.toContain('sample-s3-csv');
    expect(names.sort()).toEqual(ids.map((id) => stateMachineName(id)).sort());
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
    // CDK's built-in CloudFormation validation (off in the other infra tests' synths, for time) ran on this synth:
    // it found nothing that is not acknowledged with a reason.
    const report = JSON.parse(readFileSync(join(app.synth().directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: unknown[]; suppressedViolations?: { reason?: string }[] }[];
    };
    expect(report.pluginReports.map((r) => [r.pluginName, r.violations])).toEqual([['CloudFormation Validate', []]]);
    const acknowledged = report.pluginReports.flatMap((r) => r.suppressedViolations ?? []);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const v of acknowledged) expect(v.reason).toMatch(/\w{10}/);
  });

  it('fails `cdk synth` of the shipped Eloqua dataflows while their SFTP hosts and logins and Eloqua companies are empty, naming every one', async () => {
    // Act
    const r = await synthApp(CDK_CONTEXT, mkdtempSync(join(tmpdir(), 'idx-cdkout-')));

    // Assess
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('IDX_DEPLOY_INVALID');
    const empty = r.stderr.split('\n').filter((l) => l.includes('IDX_DEPLOY_PARAM_EMPTY'));
    expect(empty.map((l) => /\[(.*)\]$/.exec(l)?.[1])).toEqual([
      'dataflows/eloqua-bulk-inbound.json › step "eloqua" › $.steps[0].params.company',
      'dataflows/eloqua-bulk-inbound.json › step "errors to sftp" › $.steps[8].params.host',
      'dataflows/eloqua-bulk-inbound.json › step "errors to sftp" › $.steps[8].params.username',
      'dataflows/eloqua-bulk-outbound.json › step "eloqua" › $.steps[4].params.company',
      'dataflows/eloqua-bulk-outbound.json › step "errors to sftp" › $.steps[7].params.host',
      'dataflows/eloqua-bulk-outbound.json › step "errors to sftp" › $.steps[7].params.username',
      'dataflows/eloqua-inbound.json › step "sftp" › $.steps[0].params.host',
      'dataflows/eloqua-inbound.json › step "sftp" › $.steps[0].params.username',
      'dataflows/eloqua-inbound.json › step "errors to sftp" › $.steps[9].params.host',
      'dataflows/eloqua-inbound.json › step "errors to sftp" › $.steps[9].params.username',
      'dataflows/eloqua-outbound.json › step "sftp" › $.steps[5].params.host',
      'dataflows/eloqua-outbound.json › step "sftp" › $.steps[5].params.username',
    ]);
    expect(r.stderr).not.toContain('sample-s3-csv');
  }, 240_000);

  it('passes the synth once the hosts are set through identity-sync:params, and validates what it sets', () => {
    // Prepare
    const context = { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] };
    const wrong = { 'eloqua-inbound': { sftp: { port: 'twenty-two' } }, 'eloqua-outbound': { ftp: { host: 'x' } } };

    // Act
    const stack = buildApp(
      new App({
        context: { ...context, 'identity-sync:params': JSON.stringify(ELOQUA_DEPLOYMENT_PARAMS) },
        builtinCloudFormationValidation: false,
      }),
    );
    const refused = () => buildApp(new App({ context: { ...context, 'identity-sync:params': wrong } }));

    // Assess
    const template = Template.fromStack(stack);
    const definition = JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(definition).toContain('sftp.example.com');
    expect(refused).toThrow(
      /IDX_PARAM_TYPE.*port[\s\S]*IDX_DEPLOY_OVERRIDE: identity-sync:params sets params of step "ftp"/,
    );
  });

  it('fails the synth when a deployed dataflow needs a secret the deployment does not list, or the selection names no dataflow', () => {
    // Prepare
    const dir = tempDir({ 'alpha.json': ALPHA, 'beta.json': BETA });

    // Act
    const missing = () =>
      loadDataflowDir(dir, defaultRegistry(), { secrets: ['alpha-key', 'alpha-secret', 'beta-sftp-user'] });
    const unknown = () => loadDataflowDir(dir, defaultRegistry(), { only: ['alpha', 'gamma'] });
    const chosen = loadDataflowDir(dir, defaultRegistry(), {
      only: ['beta'],
      secrets: ['beta-sftp-user', 'beta-sftp-password'],
    });

    // Assess
    expect(missing).toThrow(/IDX_DEPLOY_SECRET_UNKNOWN: dataflow "beta" needs the secret "beta-sftp-password"/);
    expect(unknown).toThrow(/IDX_DEPLOY_SELECTION: identity-sync:dataflows names dataflow "gamma"/);
    expect(chosen.dataflows.map((d) => d.id)).toEqual(['beta']);
  });

  it('fails the synth of a bad dataflow with the coded messages `idx validate` prints', async () => {
    // Prepare
    const bad = {
      name: 'Broken',
      steps: [{ id: 'r', type: 'field.rename', params: { fields: 'x' }, next: ['gone'] }],
      schedules: [{ name: 's', frequencyType: 'fortnight' }],
    };
    const dir = tempDir({ 'ok.json': BETA, 'broken.json': bad });
    const expected = validateFile(join(dir, 'broken.json'), defaultRegistry())
      .problems.filter((p) => p.severity === 'error')
      .map(formatProblem);

    // Act
    const r = await synthApp({ 'identity-sync:dataflowsDir': dir }, mkdtempSync(join(tmpdir(), 'idx-cdkout-')));

    // Assess
    expect(r.code).not.toBe(0);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    for (const line of expected) expect(r.stderr).toContain(line);
    expect(r.stderr).toContain('IDX_DEPLOY_INVALID');
    for (const code of ['IDX_PARAM_TYPE', 'IDX_EDGE_MISSING_STEP', 'IDX_SCHEDULE_FIELD'])
      expect(r.stderr).toContain(code);
  }, 240_000);

  it('refuses two dataflow files with one id', () => {
    // Prepare
    const dir = tempDir({ 'a.json': BETA, 'b.json': BETA });

    // Act / Assess
    expect(() => loadDataflowDir(dir, defaultRegistry())).toThrow(/IDX_DATAFLOW_DUPLICATE_ID|also the id of/);
  });

  it('reads function settings, prefixes and stage expiry from the context', () => {
    // Prepare
    const context: Record<string, unknown> = {
      'identity-sync:namePrefix': 'idx-prod',
      'identity-sync:stageExpirationDays': 3,
      'identity-sync:functions': JSON.stringify({
        '*': { memorySize: 512 },
        beta: { memorySize: '3008', timeoutSeconds: 600 },
      }),
    };

    // Act
    const props = propsFromContext((k) => context[k]);

    // Assess
    expect(props).toEqual({
      namePrefix: 'idx-prod',
      stageExpiration: Duration.days(3),
      functionDefaults: { memorySize: 512 },
      functionSettings: { beta: { memorySize: 3008, timeout: Duration.seconds(600) } },
    });
    expect(() =>
      propsFromContext((k) => (k === 'identity-sync:functions' ? { beta: { memory: 1 } } : undefined)),
    ).toThrow(/memory is unknown/);
  });

  it('reads how failed jobs run again from the context', () => {
    // Prepare
    const context: Record<string, unknown> = {
      'identity-sync:maxAttempts': '5',
      'identity-sync:retryBackoffSeconds': 30,
    };

    // Act
    const props = propsFromContext((k) => context[k]);

    // Assess
    expect(props).toEqual({ attempts: { maxAttempts: 5, backoffSeconds: 30 } });
    expect(() => propsFromContext((k) => (k === 'identity-sync:maxAttempts' ? 0 : undefined))).toThrow(
      /maxAttempts must be a whole number of at least 1/,
    );
  });

  it('reads the rejected-records share of the alarms from the context, from 0 to 100', () => {
    // Act
    const props = propsFromContext((k) => (k === 'identity-sync:rejectedRecordsAlarmPercent' ? '2.5' : undefined));

    // Assess
    expect(props).toEqual({ rejectedRecordsAlarmPercent: 2.5 });
    expect(() =>
      propsFromContext((k) => (k === 'identity-sync:rejectedRecordsAlarmPercent' ? 'lots' : undefined)),
    ).toThrow(/rejectedRecordsAlarmPercent must be a number from 0 to 100/);
  });
});

describe('the Lambda bundles (real esbuild bundling)', () => {
  let out: string;
  let synth: Awaited<ReturnType<typeof synthApp>>;
  /** Asset folders by the handler they hold. */
  const assets: Record<'step' | 'notify' | 'console', string> = { step: '', notify: '', console: '' };
  /** The asset folders esbuild wrote (the others are the console's static files and CDK's BucketDeployment). */
  let bundles: string[];

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'idx-cdkout-'));
    synth = await synthApp({ 'identity-sync:dataflowsDir': tempDir({ 'alpha.json': ALPHA, 'beta.json': BETA }) }, out);
    bundles = readdirSync(out).filter((d) => d.startsWith('asset.') && existsSync(join(out, d, 'index.mjs.map')));
    for (const dir of bundles) {
      const map = readFileSync(join(out, dir, 'index.mjs.map'), 'utf8');
      assets[map.includes('lambdas/notify.ts') ? 'notify' : map.includes('lambdas/console.ts') ? 'console' : 'step'] =
        join(out, dir);
    }
  }, 240_000);

  it('synthesizes with esbuild from node_modules, bundling the step handler once for every dataflow', () => {
    // Assess: the step handler, the notification handler and the console.
    expect(synth.code, synth.stderr).toBe(0);
    expect(bundles).toHaveLength(3);
    const template = JSON.parse(readFileSync(join(out, 'IdentitySync.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Runtime?: string; Code?: { S3Key?: string } } }>;
    };
    const keys = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime?.startsWith('nodejs'))
      .map((r) => r.Properties.Code?.S3Key);
    expect(new Set(keys).size).toBe(3);
  });

  it("bundles the console with the deployed dataflows, and none of local mode's servers nor its static files (deployed to their bucket)", () => {
    // Prepare
    const sources = (JSON.parse(readFileSync(join(assets.console, 'index.mjs.map'), 'utf8')) as { sources: string[] })
      .sources;
    const dataflows = JSON.parse(readFileSync(join(assets.console, 'dataflows.json'), 'utf8')) as {
      json: { id: string };
    }[];

    // Assess
    expect(existsSync(join(assets.console, 'static'))).toBe(false);
    const statics = readdirSync(out).filter((d) => d.startsWith('asset.') && existsSync(join(out, d, 'console.css')));
    expect(statics.map((d) => readdirSync(join(out, d)).sort())).toEqual([['console.css', 'console.js']]);
    expect(dataflows.map((d) => d.json.id).sort()).toEqual(['alpha', 'beta']);
    for (const local of ['/lib/local/runner', '/dynalite/', '/s3rver/', '/aws-local-stepfunctions/']) {
      expect(sources.filter((s) => s.includes(local))).toEqual([]);
    }
  });

  it('keeps local-only dependencies out of the step bundle and stays small', () => {
    // Prepare
    const sources = (JSON.parse(readFileSync(join(assets.step, 'index.mjs.map'), 'utf8')) as { sources: string[] })
      .sources;

    // Assess
    expect(sources.some((s) => s.endsWith('lib/engine/handler.ts'))).toBe(true);
    for (const local of ['/lib/local/', '/dynalite/', '/s3rver/', '/aws-local-stepfunctions/', '/ftp-srv/']) {
      expect(sources.filter((s) => s.includes(local))).toEqual([]);
    }
    expect(statSync(join(assets.step, 'index.mjs')).size).toBeLessThan(5 * 1024 * 1024);
    expect(statSync(join(assets.notify, 'index.mjs')).size).toBeLessThan(2 * 1024 * 1024);
  });

  it('loads each bundle as Lambda would and finds its handler', () => {
    // Prepare
    const env = {
      ...process.env,
      IDX_STAGE_BUCKET: 'b',
      IDX_JOBS_TABLE: 'j',
      IDX_STATE_TABLE: 's',
      IDX_UIDMAP_TABLE: 'u',
      AWS_REGION: 'eu-west-1',
    };

    // Act
    const results = [assets.step, assets.notify, assets.console].map((dir) =>
      spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(dir, 'index.mjs'))}); console.log(typeof m.handler);`,
        ],
        { encoding: 'utf8', env },
      ),
    );

    // Assess
    for (const r of results) expect(r.stdout.trim(), r.stderr.slice(-2000)).toBe('function');
    expect(existsSync(join(assets.step, 'index.mjs.map'))).toBe(true);
  });
});
