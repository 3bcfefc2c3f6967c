/**
 * A dataflow's scheduling objects as EventBridge rules (UTC, like IdentitySync). Each rule starts the state
 * machine with `{scheduleId, fullExtract, limit, logLevel}`; a disabled schedule is a disabled rule. How
 * `nextJobStartTime` anchors each frequency is explained in lib/infra/schedule-expressions.ts.
 */
import { Annotations } from 'aws-cdk-lib';
import { Schedule as EventSchedule, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { Dataflow } from '../dataflow/types.ts';
import { scheduleExpression, scheduleInput, scheduleStart } from './schedule-expressions.ts';

/** Props of {@link DataflowSchedules}. */
export interface DataflowSchedulesProps {
  readonly dataflow: Dataflow;
  readonly stateMachine: IStateMachine;
  /**
   * Deploy time, to warn about `once` schedules already in the past (their rule never fires).
   * @default new Date()
   */
  readonly now?: Date;
}

/** One EventBridge rule per scheduling object. */
export class DataflowSchedules extends Construct {
  /** The rules by schedule name. */
  readonly rules: ReadonlyMap<string, Rule>;

  constructor(scope: Construct, id: string, props: DataflowSchedulesProps) {
    super(scope, id);
    const { dataflow } = props;
    const now = props.now ?? new Date();
    const rules = new Map<string, Rule>();
    for (const schedule of dataflow.schedules) {
      const expression = scheduleExpression(schedule);
      if (expression === undefined) {
        Annotations.of(this).addWarningV2(
          'identity-sync:schedule-once-without-start',
          `dataflow "${dataflow.id}", schedule "${schedule.name}": a "once" schedule needs nextJobStartTime to be deployed; no rule was created (start a run from the console or with idx test --deployed instead)`,
        );
        continue;
      }
      const start = scheduleStart(schedule);
      if (schedule.frequencyType === 'once' && start && start.getTime() < now.getTime()) {
        Annotations.of(this).addWarningV2(
          'identity-sync:schedule-once-in-past',
          `dataflow "${dataflow.id}", schedule "${schedule.name}": nextJobStartTime ${start.toISOString()} is in the past; its rule never fires`,
        );
      }
      const every =
        schedule.frequencyType === 'once'
          ? 'once'
          : `every ${schedule.frequencyInterval ?? 1} ${schedule.frequencyType}(s)`;
      const rule = new Rule(this, `Schedule-${schedule.name.replace(/\//g, '_')}`, {
        description:
          `identity-sync: dataflow "${dataflow.name}" (${dataflow.id}), schedule "${schedule.name}", ${every}`.slice(
            0,
            512,
          ),
        schedule: EventSchedule.expression(expression),
        enabled: schedule.enabled !== false,
        targets: [
          new SfnStateMachine(props.stateMachine, { input: RuleTargetInput.fromObject(scheduleInput(schedule)) }),
        ],
      });
      rules.set(schedule.name, rule);
    }
    this.rules = rules;
  }
}
