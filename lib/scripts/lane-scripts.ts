/**
 * The scripts that can run in parallel lanes (each declares `lanes`). A lane worker loads these and nothing else,
 * which keeps a lane to about 15 MB instead of the 50 MB that every script's dependencies take. They are
 * registered with every other script through index.ts.
 */
import { fieldAdd } from './field.add.ts';
import { fieldArrayJoin } from './field.array.join.ts';
import { fieldCopy } from './field.copy.ts';
import { fieldDateFormat } from './field.date.format.ts';
import { fieldEvaluate } from './field.evaluate.ts';
import { fieldFlatten } from './field.flatten.ts';
import { fieldMove } from './field.move.ts';
import { fieldRemove } from './field.remove.ts';
import { fieldRename } from './field.rename.ts';
import { fieldReplace } from './field.replace.ts';
import { fieldSelect } from './field.select.ts';
import { fileCompressGzip } from './file.compress.gzip.ts';
import { fileFormatAam } from './file.format.aam.ts';
import { fileFormatDsv } from './file.format.dsv.ts';
import { fileFormatKrux } from './file.format.krux.ts';
import { fileParseDsv } from './file.parse.dsv.ts';

/** Definitions of the scripts that can run in lanes. */
export const laneDefinitions = [
  fieldAdd,
  fieldArrayJoin,
  fieldCopy,
  fieldDateFormat,
  fieldEvaluate,
  fieldFlatten,
  fieldMove,
  fieldRemove,
  fieldRename,
  fieldReplace,
  fieldSelect,
  fileCompressGzip,
  fileFormatAam,
  fileFormatDsv,
  fileFormatKrux,
  fileParseDsv,
] as const;
