/** The CDK app: every dataflow in dataflows/ becomes a state machine (see lib/infra/app.ts). */
import { App } from 'aws-cdk-lib';
import { describeError } from '../lib/core/errors.ts';
import { buildApp } from '../lib/infra/app.ts';

const app = new App();
try {
  buildApp(app);
} catch (error) {
  // A bad dataflow stops the synth with every problem on its own line, as `idx validate` prints them.
  process.stderr.write(`${describeError(error)}\n`);
  process.exit(1);
}
app.synth();
