/** The scripts the benchmark pipelines use, imported one by one so a benchmark process loads nothing else. */
import { fieldEvaluate } from '../../lib/scripts/field.evaluate.ts';
import { fieldRename } from '../../lib/scripts/field.rename.ts';
import { fileCompressGzip } from '../../lib/scripts/file.compress.gzip.ts';
import { fileFormatDsv } from '../../lib/scripts/file.format.dsv.ts';
import { fileParseDsv } from '../../lib/scripts/file.parse.dsv.ts';
import { fileParseJson } from '../../lib/scripts/file.parse.json.ts';
import { fileUncompressGzip } from '../../lib/scripts/file.uncompress.gzip.ts';
import { recordEvaluate } from '../../lib/scripts/record.evaluate.ts';
import { vmRecordEvaluate } from './vm-record-evaluate.ts';

/** Definitions by type. */
export const benchDefinitions = [
  fieldEvaluate,
  fieldRename,
  fileCompressGzip,
  fileFormatDsv,
  fileParseDsv,
  fileParseJson,
  fileUncompressGzip,
  recordEvaluate,
  vmRecordEvaluate,
] as const;
