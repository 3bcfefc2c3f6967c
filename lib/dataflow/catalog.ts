/**
 * Every component type IdentitySync is known to have (reference: identitysync-spec.md §2). A step whose type is
 * listed here but not registered is "not implemented yet" (its own code), as opposed to a type nobody knows.
 */
export const IDENTITYSYNC_TYPES: ReadonlySet<string> = new Set([
  // readers
  'datasource.read.gigya.account',
  'datasource.read.gigya.audit',
  'datasource.read.gigya.ds',
  'datasource.read.gigya.comment',
  'datasource.read.sftp',
  'datasource.read.ftp',
  'datasource.read.amazon.s3',
  'datasource.read.azure.blob',
  'datasource.read.azure.sas',
  'datasource.read.campaignmonitor',
  'datasource.read.constantcontact',
  'datasource.read.mailchimp',
  'datasource.read.marketo',
  'datasource.read.silverpop',
  // lookups
  'datasource.lookup.gigya.account',
  'datasource.lookup.gigya.gm',
  // record transforms
  'field.rename',
  'field.remove',
  'field.select',
  'field.add',
  'field.copy',
  'field.move',
  'field.evaluate',
  'field.replace',
  'field.flatten',
  'field.array.join',
  'field.array.extract',
  'field.date.format',
  'record.evaluate',
  // files
  'file.format.dsv',
  'file.format.json',
  'file.format.krux',
  'file.format.aam',
  'file.format.count',
  'file.empty',
  'file.parse.dsv',
  'file.parse.json',
  'file.compress.gzip',
  'file.compress.zip',
  'file.compress.lzo',
  'file.uncompress.gzip',
  'file.uncompress.zip',
  'file.uncompress.lzo',
  'file.encrypt.pgp',
  'file.decrypt.pgp',
  // writers
  'datasource.write.sftp',
  'datasource.write.ftp',
  'datasource.write.amazon.s3',
  'datasource.write.azure.blob',
  'datasource.write.azure.sas',
  'datasource.write.gigya.account',
  'datasource.write.gigya.importaccount',
  'datasource.write.gigya.ds',
  'datasource.write.gigya.generic',
  'datasource.write.mailchimp',
  'datasource.write.campaignmonitor',
  'datasource.write.constantcontact',
  'datasource.write.exacttarget',
  'datasource.write.marketo',
  'datasource.write.salesforce',
  'datasource.write.silverpop',
  'datasource.write.bluekai',
]);

/**
 * IdentitySync components whose service no longer exists, with why: validation names the reason instead of
 * promising the component for later. Oracle discontinued its advertising business, BlueKai DMP included, on
 * 30 September 2024.
 */
export const RETIRED_TYPES: ReadonlyMap<string, string> = new Map([
  [
    'datasource.write.bluekai',
    'Oracle discontinued its advertising business, BlueKai DMP included, on 30 September 2024, so there is no service left to write to',
  ],
]);

/** Param names that hold credentials wherever they appear (reference: identitysync-spec.md §2). */
export const CREDENTIAL_PARAMS: ReadonlySet<string> = new Set([
  'password',
  'secret',
  'secretKey',
  'accessKey',
  'privateKey',
  'passphrase',
  'userKey',
  'clientSecret',
]);
