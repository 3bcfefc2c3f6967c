import { describe, expect, it } from 'vitest';
import { graphSvg } from '../../../lib/console/graph-svg.ts';
import { maskedDataflowJson, maskSecrets, nextRunOf } from '../../../lib/console/model.ts';
import type { Schedule } from '../../../lib/dataflow/types.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { graphStep } from '../../support/dataflows.ts';

describe('maskSecrets', () => {
  it('masks credential values at any depth and keeps secret references and empty values readable', () => {
    // Act
    const masked = maskSecrets({
      host: 'sftp.example.com',
      password: 'hunter2',
      privateKey: '${secret:SFTP_KEY}',
      secret: '',
      nested: [{ clientSecret: { value: 'deep' } }],
    });

    // Assess
    expect(masked).toEqual({
      host: 'sftp.example.com',
      password: '********',
      privateKey: '${secret:SFTP_KEY}',
      secret: '',
      nested: [{ clientSecret: { value: '********' } }],
    });
  });

  it('masks every step of a dataflow file’s JSON and leaves the rest as it is', () => {
    // Act
    const masked = maskedDataflowJson(
      { id: 'x', steps: [{ id: 'w', type: 'datasource.write.sftp', params: { password: 'p4ss', remotePath: 'out' } }] },
      defaultRegistry(),
    );

    // Assess
    expect(masked).toEqual({
      id: 'x',
      steps: [{ id: 'w', type: 'datasource.write.sftp', params: { password: '********', remotePath: 'out' } }],
    });
  });
});

describe('nextRunOf', () => {
  const now = new Date('2026-03-10T12:30:00Z');
  const schedule = (s: Partial<Schedule>): Schedule => ({ name: 's', frequencyType: 'day', ...s }) as Schedule;

  it('steps a recurring schedule from its start time to its first run at or after now', () => {
    // Act
    const daily = nextRunOf(schedule({ nextJobStartTime: '2026-01-01 02:00:00' }), now);
    const sixHours = nextRunOf(
      schedule({ frequencyType: 'hour', frequencyInterval: 6, nextJobStartTime: '2026-03-10T01:00:00Z' }),
      now,
    );
    const monthly = nextRunOf(schedule({ frequencyType: 'month', nextJobStartTime: '2026-01-31T00:00:00Z' }), now);

    // Assess
    expect(daily?.toISOString()).toBe('2026-03-11T02:00:00.000Z');
    expect(sixHours?.toISOString()).toBe('2026-03-10T13:00:00.000Z');
    expect(monthly && monthly >= now).toBe(true);
  });

  it('shows a past once schedule’s time, and nothing for a disabled schedule or one without a time', () => {
    // Act
    const once = nextRunOf(schedule({ frequencyType: 'once', nextJobStartTime: '2026-01-01T00:00:00Z' }), now);
    const disabled = nextRunOf(schedule({ enabled: false, nextJobStartTime: '2026-01-01 02:00:00' }), now);
    const timeless = nextRunOf(schedule({}), now);

    // Assess
    expect(once?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect([disabled, timeless]).toEqual([undefined, undefined]);
  });
});

describe('graphSvg', () => {
  it('draws one box per step, error edges dashed apart from next edges, and escapes every text', () => {
    // Prepare
    const steps = [
      graphStep('read', 'datasource.read.sftp', ['<parse>']),
      graphStep('<parse>', 'file.parse.dsv', ['write'], ['errors']),
      graphStep('write', 'datasource.write.gigya.account'),
      graphStep('errors', 'file.format.json'),
    ];

    // Act
    const svg = graphSvg(steps);

    // Assess
    expect(svg.match(/<g class="node"/g)).toHaveLength(4);
    expect(svg.match(/class="edge edge-next"/g)).toHaveLength(2);
    expect(svg.match(/class="edge edge-error"/g)).toHaveLength(1);
    expect(svg).toContain('&lt;parse&gt;');
    expect(svg).not.toContain('<parse>');
  });

  it('still draws a graph with a cycle and edges to missing steps, leaving out what cannot be drawn', () => {
    // Act
    const svg = graphSvg([graphStep('a', 'field.add', ['b']), graphStep('b', 'field.add', ['a', 'ghost'])]);

    // Assess
    expect(svg.match(/<g class="node"/g)).toHaveLength(2);
    expect(svg.match(/class="edge edge-next"/g)).toHaveLength(2);
  });
});
