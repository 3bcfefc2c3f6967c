/**
 * `npm run bench -- eloqua`: 100,000 contacts through `datasource.write.eloqua` against the Eloqua emulator with
 * realistic latencies (150 ms a request, a sync ending on its third poll), in `idx run` as a child process whose
 * peak RSS is its own: the sample CSV (`idx sample`) parsed and imported as contacts keyed by the UID, with the
 * global subscription set from its `subscribed` column. Prints records/s, the Bulk API calls made and the peak RSS,
 * at 10,000 and 100,000 records, so that memory can be seen to stay flat (`IDX_BENCH_ELOQUA_SIZES` for others).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEloquaEmulator } from '../../lib/local/eloqua-emulator.ts';
import { cliProcess, peakRssMbOf } from './pipeline.ts';

const LATENCY_MS = 150;

/** The dataflow measured: sample CSV in S3 → parse → Eloqua contacts. */
const DATAFLOW = {
  id: 'bench-eloqua-writer',
  name: 'Bench: 100,000 contacts into Eloqua',
  steps: [
    {
      id: 'read',
      type: 'datasource.read.amazon.s3',
      params: { bucketName: 'identity-sync-samples', objectKeyPrefix: 'input/', fileNameRegex: '.*\\.csv' },
      next: ['parse'],
    },
    { id: 'parse', type: 'file.parse.dsv', params: { columnSeparator: ',' }, next: ['eloqua'] },
    {
      id: 'eloqua',
      type: 'datasource.write.eloqua',
      params: {
        company: '',
        fields: [
          { sourceField: 'UID', targetField: 'C_Gigya_UID1' },
          { sourceField: 'email', targetField: 'C_EmailAddress' },
          { sourceField: 'firstName', targetField: 'C_FirstName' },
          { sourceField: 'lastName', targetField: 'C_LastName' },
          { sourceField: 'city', targetField: 'C_City' },
          { sourceField: 'country', targetField: 'C_Country' },
        ],
        identifierField: 'C_Gigya_UID1',
        subscriptionField: 'subscribed',
      },
    },
  ],
};

/** One measured run. */
interface Figures {
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly calls: number;
  readonly contacts: number;
  readonly peakRssMb: number;
}

async function measure(records: number): Promise<Figures> {
  const home = mkdtempSync(join(tmpdir(), 'idx-bench-eloqua-'));
  const emu = await startEloquaEmulator({ pollsToComplete: 3 });
  emu.faults.latency(LATENCY_MS);
  try {
    const file = join(home, 'bench-eloqua.json');
    writeFileSync(file, JSON.stringify(DATAFLOW));
    const seeded = spawnSync(process.execPath, ['bin/idx.js', 'sample', '--records', String(records)], {
      encoding: 'utf8',
      env: { ...process.env, IDX_HOME: home },
    });
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    // The run calls the emulator, which answers from this process: it runs as a child this process does not block on.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const cli = cliProcess(['run', file, '--json', '--stats']);
      const child = spawn(process.execPath, cli.args, {
        env: { ...cli.env, IDX_HOME: home, IDX_ELOQUA_ENDPOINT: emu.url },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    if (run.status !== 0) throw new Error(`run failed: ${run.stderr.slice(-2000)}`);
    const job = JSON.parse(run.stdout) as { startTime: string; endTime: string; totalRecords: number };
    const seconds = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
    const peak = peakRssMbOf(run.stderr);
    return {
      records: job.totalRecords,
      seconds,
      recordsPerSecond: Math.round(job.totalRecords / seconds),
      calls: emu.calls.length,
      contacts: emu.contacts.size,
      peakRssMb: peak,
    };
  } finally {
    await emu.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Runs the Eloqua writer benchmark and prints a table. */
export async function run(): Promise<Figures[]> {
  const sizes = (process.env.IDX_BENCH_ELOQUA_SIZES ?? '10000,100000').split(',').map(Number);
  process.stdout.write(
    `\n## datasource.write.eloqua: sample CSV → Eloqua emulator (${LATENCY_MS} ms a request, syncs end on the third poll)\n\n`,
  );
  process.stdout.write(
    '| records | seconds | records/s | Bulk API calls | contacts | peak RSS MB |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  const rows: Figures[] = [];
  for (const n of sizes) {
    const f = await measure(n);
    rows.push(f);
    process.stdout.write(
      `| ${f.records} | ${f.seconds.toFixed(1)} | ${f.recordsPerSecond} | ${f.calls} | ${f.contacts} | ${f.peakRssMb.toFixed(0)} |\n`,
    );
  }
  return rows;
}
