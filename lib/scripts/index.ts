/**
 * The default registry: every script type the project ships, one file each. Add a script by importing its
 * definition here; docs, the JSON Schema and validation pick it up from the registry.
 */

import { ScriptRegistry } from '../core/registry.ts';
import { datasourceLookupGigyaAccount } from './datasource.lookup.gigya.account.ts';
import { datasourceLookupGigyaGm } from './datasource.lookup.gigya.gm.ts';
import { datasourceReadAmazonS3 } from './datasource.read.amazon.s3.ts';
import { datasourceReadAzureBlob } from './datasource.read.azure.blob.ts';
import { datasourceReadCampaignmonitor } from './datasource.read.campaignmonitor.ts';
import { datasourceReadEloqua } from './datasource.read.eloqua.ts';
import { datasourceReadFtp } from './datasource.read.ftp.ts';
import { datasourceReadGigyaAccount } from './datasource.read.gigya.account.ts';
import { datasourceReadGigyaAudit } from './datasource.read.gigya.audit.ts';
import { datasourceReadGigyaComment } from './datasource.read.gigya.comment.ts';
import { datasourceReadGigyaDs } from './datasource.read.gigya.ds.ts';
import { datasourceReadMailchimp } from './datasource.read.mailchimp.ts';
import { datasourceReadSftp } from './datasource.read.sftp.ts';
import { datasourceReadSilverpop } from './datasource.read.silverpop.ts';
import { datasourceWriteAmazonS3 } from './datasource.write.amazon.s3.ts';
import { datasourceWriteAzureBlob } from './datasource.write.azure.blob.ts';
import { datasourceWriteAzureSas } from './datasource.write.azure.sas.ts';
import { datasourceWriteConstantcontact } from './datasource.write.constantcontact.ts';
import { datasourceWriteEloqua } from './datasource.write.eloqua.ts';
import { datasourceWriteExacttarget } from './datasource.write.exacttarget.ts';
import { datasourceWriteFtp } from './datasource.write.ftp.ts';
import { datasourceWriteGigyaAccount } from './datasource.write.gigya.account.ts';
import { datasourceWriteGigyaDs } from './datasource.write.gigya.ds.ts';
import { datasourceWriteGigyaGeneric } from './datasource.write.gigya.generic.ts';
import { datasourceWriteGigyaImportaccount } from './datasource.write.gigya.importaccount.ts';
import { datasourceWriteMailchimp } from './datasource.write.mailchimp.ts';
import { datasourceWriteMarketo } from './datasource.write.marketo.ts';
import { datasourceWriteSalesforce } from './datasource.write.salesforce.ts';
import { datasourceWriteSftp } from './datasource.write.sftp.ts';
import { datasourceWriteSilverpop } from './datasource.write.silverpop.ts';
import { fieldArrayExtract } from './field.array.extract.ts';
import { fileCompressLzo } from './file.compress.lzo.ts';
import { fileCompressZip } from './file.compress.zip.ts';
import { fileDecryptPgp } from './file.decrypt.pgp.ts';
import { fileEmpty } from './file.empty.ts';
import { fileEncryptPgp } from './file.encrypt.pgp.ts';
import { fileFormatCount } from './file.format.count.ts';
import { fileFormatJson } from './file.format.json.ts';
import { fileParseJson } from './file.parse.json.ts';
import { fileUncompressGzip } from './file.uncompress.gzip.ts';
import { fileUncompressLzo } from './file.uncompress.lzo.ts';
import { fileUncompressZip } from './file.uncompress.zip.ts';
import { laneDefinitions } from './lane-scripts.ts';
import { recordEvaluate } from './record.evaluate.ts';
import { uidmapLookup } from './uidmap.lookup.ts';
import { uidmapWrite } from './uidmap.write.ts';

/** Every shipped definition. */
export const definitions = [
  ...laneDefinitions,
  datasourceLookupGigyaAccount,
  datasourceLookupGigyaGm,
  datasourceReadAmazonS3,
  datasourceReadAzureBlob,
  datasourceReadCampaignmonitor,
  datasourceReadEloqua,
  datasourceReadFtp,
  datasourceReadGigyaAccount,
  datasourceReadGigyaAudit,
  datasourceReadGigyaComment,
  datasourceReadGigyaDs,
  datasourceReadMailchimp,
  datasourceReadSftp,
  datasourceReadSilverpop,
  datasourceWriteAmazonS3,
  datasourceWriteAzureBlob,
  datasourceWriteAzureSas,
  datasourceWriteEloqua,
  datasourceWriteExacttarget,
  datasourceWriteFtp,
  datasourceWriteGigyaAccount,
  datasourceWriteGigyaDs,
  datasourceWriteGigyaGeneric,
  datasourceWriteGigyaImportaccount,
  datasourceWriteConstantcontact,
  datasourceWriteMailchimp,
  datasourceWriteMarketo,
  datasourceWriteSalesforce,
  datasourceWriteSftp,
  datasourceWriteSilverpop,
  fieldArrayExtract,
  fileCompressLzo,
  fileCompressZip,
  fileDecryptPgp,
  fileEmpty,
  fileEncryptPgp,
  fileFormatCount,
  fileFormatJson,
  fileParseJson,
  fileUncompressGzip,
  fileUncompressLzo,
  fileUncompressZip,
  recordEvaluate,
  uidmapLookup,
  uidmapWrite,
] as const;

/** A fresh registry of every shipped script (clone it before changing it in tests). */
export function defaultRegistry(): ScriptRegistry {
  return new ScriptRegistry(definitions as never);
}
