/**
 * The default registry: every script type the project ships, one file each. Add a script by importing its
 * definition here; docs, the JSON Schema and validation pick it up from the registry.
 */
import { datasourceReadAmazonS3 } from './datasource.read.amazon.s3.ts';
import { datasourceReadSftp } from './datasource.read.sftp.ts';
import { datasourceWriteAmazonS3 } from './datasource.write.amazon.s3.ts';
import { datasourceWriteSftp } from './datasource.write.sftp.ts';
import { fieldRemove } from './field.remove.ts';
import { fieldRename } from './field.rename.ts';
import { ScriptRegistry } from './registry.ts';
import { uidmapLookup } from './uidmap.lookup.ts';
import { uidmapWrite } from './uidmap.write.ts';

/** Every shipped definition. */
export const definitions = [
  datasourceReadAmazonS3,
  datasourceReadSftp,
  datasourceWriteAmazonS3,
  datasourceWriteSftp,
  fieldRemove,
  fieldRename,
  uidmapLookup,
  uidmapWrite,
] as const;

/** A fresh registry of every shipped script (clone it before changing it in tests). */
export function defaultRegistry(): ScriptRegistry {
  return new ScriptRegistry(definitions as never);
}
