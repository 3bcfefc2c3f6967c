/**
 * The catalogue of every error code identity-sync raises on purpose: what it means, whether retrying can help,
 * where it shows up and what the user should do. {@link IdxErrorCode} is derived from it, so an `IdxError` or a
 * validation problem with a code that is not catalogued does not compile; `docs/errors.md` is generated from it
 * by `idx schema --write`, and the compiled Retry lists come from its transient entries.
 */

/**
 * Whether retrying the same work can succeed: `transient` always (throttling, a dropped connection),
 * `permanent` never (bad input or configuration), `either` when the error says so itself (its `transient`
 * field), e.g. an S3 failure that is a 503 one time and a 403 the next.
 */
export type Transience = 'transient' | 'permanent' | 'either';

/**
 * Where a code shows up: `validation` a problem in a dataflow (`idx validate`, `cdk synth`); `step` a failed
 * step, and so a failed job once retries are spent; `record` one rejected record, sent down the step's `error`
 * path with the code in `_errorDetails.code` while the job goes on; `job` the error recorded on a job whose
 * execution ended without finishing it; `command` a stopped `idx` command or `cdk synth`; `request` an HTTP request
 * the console refused (answered as JSON with the code, never a stack trace).
 */
export type ErrorSurface = 'validation' | 'step' | 'record' | 'job' | 'command' | 'request';

/** One catalogued code. */
export interface ErrorCodeEntry {
  /** What happened, in one sentence. */
  readonly summary: string;
  readonly transience: Transience;
  /** Where the code shows up, most common first. */
  readonly seen: readonly ErrorSurface[];
  /** What the user should do about it. */
  readonly action: string;
}

/** Every error code, in alphabetical order. */
export const ERROR_CODES = {
  IDX_ACCOUNTING: {
    summary: 'A record step lost track of records: records in ≠ out + rejected + dropped.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'A script broke the counting contract (it neither emitted, rejected nor dropped some record). Report it with the step type and the counters in the message.',
  },
  IDX_ACOUSTIC_AUTH: {
    summary: 'Acoustic Campaign refused the OAuth refresh-token grant, or a renewed access token.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `clientId`, the secrets behind `clientSecret` and `refreshToken`, and `podNumber`; an org admin can issue a new refresh token (Settings › Application account access).',
  },
  IDX_ACOUSTIC_FAULT: {
    summary: 'The Acoustic Campaign XML API answered a call with a Fault (SUCCESS false); the message is Acoustic’s.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Read Acoustic’s FaultString and errorid in the message: usually a wrong `listId`, column or file name.',
  },
  IDX_ACOUSTIC_JOB_FAILED: {
    summary:
      'An Acoustic data job (ImportList, ExportList) ended in ERROR or CANCELED; the message is Acoustic’s job description.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Read the job description in the message, fix the database or the mapping, and run the job again.',
  },
  IDX_ACOUSTIC_REJECTED: {
    summary:
      'Acoustic Campaign refused one row of an import; `_errorDetails.message` is Acoustic’s reason from the error file.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the record (a bad email address, an empty sync field) and send it again.',
  },
  IDX_ACOUSTIC_UNAVAILABLE: {
    summary:
      'The Acoustic Campaign XML API kept answering 429 or 5xx, or the connection kept failing, after every attempt.',
    transience: 'transient',
    seen: ['step'],
    action: 'Wait and run again; Acoustic allows 10 concurrent requests per org, so check for other clients.',
  },
  IDX_AZURE_AUTH: {
    summary: 'Azure Blob storage refused the account key or SAS (HTTP 401/403), or accountKey is not a key.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check `accountName` and the secret behind `accountKey` (the base64 key of that storage account).',
  },
  IDX_AZURE_IO: {
    summary: 'An Azure Blob storage request failed.',
    transience: 'either',
    seen: ['step'],
    action:
      'Throttling, 5xx and dropped connections are retried; for others, read the Azure error code in the message (e.g. ContainerNotFound).',
  },
  IDX_AZURE_SAS: {
    summary: 'The token endpoint or the SAS service of `datasource.write.azure.sas` gave no usable answer.',
    transience: 'either',
    seen: ['step'],
    action:
      'Check `loginUrl`, `authenticationUrl` and `blobUri`; the SAS service must answer a GET of <authenticationUrl><blobUri><file name> with a SAS URL (text or JSON). 429 and 5xx are retried.',
  },
  IDX_AZURE_SAS_AUTH: {
    summary: 'The token endpoint refused the client credentials, or the SAS service refused the token.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `clientId` and the secret behind `clientSecret`, and that the SAS service accepts tokens for `authenticationUrl`.',
  },
  IDX_CAMPAIGN_MONITOR_API: {
    summary:
      'The Campaign Monitor API refused a call or could not be reached; the message carries its Code and Message.',
    transience: 'either',
    seen: ['step'],
    action:
      "Read Campaign Monitor's Code and Message (e.g. 101 Invalid ListID: check `listId`). 429, 5xx and dropped connections were retried with backoff (`maxAttempts`).",
  },
  IDX_CAMPAIGN_MONITOR_AUTH: {
    summary: 'Campaign Monitor refused the API key (401, Code 50 or 100).',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check the secret behind `apiKey` (Account settings → API keys in Campaign Monitor).',
  },
  IDX_CHARSET_INVALID: {
    summary: 'A row or line holds bytes that are not valid in the character set the reader was given.',
    transience: 'permanent',
    seen: ['record', 'step'],
    action:
      'Check the step’s `fileCharset` against the file (the rejected record shows the bytes as U+FFFD in `_raw`); to keep such rows with U+FFFD in place of the bytes, set `invalidCharacters: "replace"` (the trace then counts them). In a header row it fails the step.',
  },
  IDX_CHARSET_UNKNOWN: {
    summary: 'A file is to be decoded with a character set that is not supported.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Set the step’s `fileCharset` to one of the names listed under “expected”.',
  },
  IDX_COMPILE_INVALID: {
    summary: 'A dataflow with validation errors was given to the compiler.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Fix the problems listed in the message (`idx validate <file>` shows each with its step and path).',
  },
  IDX_CONSTANTCONTACT_ACTIVITY: {
    summary:
      "A Constant Contact bulk import activity ended failed, cancelled or timed out; the message carries Constant Contact's activity errors.",
    transience: 'permanent',
    seen: ['step'],
    action:
      "Read Constant Contact's message (e.g. a list that was deleted, an account over its contact limit), fix the cause and run the job again.",
  },
  IDX_CONSTANTCONTACT_API: {
    summary:
      'The Constant Contact V3 API refused a call or could not be reached; the message carries its error_key and error_message.',
    transience: 'either',
    seen: ['step'],
    action:
      "Read Constant Contact's error (e.g. list.not_found: check `listId`). 429, 5xx and dropped connections were retried with backoff (`maxAttempts`).",
  },
  IDX_CONSTANTCONTACT_AUTH: {
    summary:
      'Constant Contact refused the access token (401): it is expired (V3 access tokens live 24 hours) or revoked.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Renew the access token with the refresh token in the client application that holds it (Constant Contact’s OAuth2 token endpoint) and update the secret behind `accessToken`.',
  },
  IDX_CONSTANTCONTACT_REJECTED: {
    summary:
      'Constant Contact refused one contact of an import activity, or the record cannot be a contact (no address, a newsletter value that is not a boolean).',
    transience: 'permanent',
    seen: ['record'],
    action: "Read `_errorDetails.message` (Constant Contact's reason) and fix the address or fields at the source.",
  },
  IDX_CREDENTIAL_PLAINTEXT: {
    summary: 'A credential param holds a plaintext value.',
    transience: 'permanent',
    seen: ['validation'],
    action:
      'Store the value as a secret (Secrets Manager `identity-sync/NAME`, or `IDX_SECRET_NAME` locally) and write `${secret:NAME}` in the param.',
  },
  IDX_CREDENTIAL_UNSET: {
    summary: 'A credential param is empty, so the step will fail when it runs (a warning).',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Set the param to a `${secret:NAME}` reference before running the dataflow.',
  },
  IDX_DATAFLOW_DUPLICATE_ID: {
    summary: 'Two dataflow files to deploy have the same id.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Give each file in `dataflows/` its own `id`: the id names the state machine and its state.',
  },
  IDX_DATAFLOW_EXISTS: {
    summary:
      'A dataflow to create (`idx init`, the console’s Duplicate or Create) has an id or file that is already taken.',
    transience: 'permanent',
    seen: ['command', 'request'],
    action: 'Choose another id (`--id`), or remove the existing file first if it is meant to be replaced.',
  },
  IDX_DATAFLOW_INVALID: {
    summary: 'A command was given a dataflow file that has errors or cannot be read as a dataflow.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Fix the problems printed above the message; `idx validate <file>` lists them again.',
  },
  IDX_DATAFLOW_LIMIT: {
    summary:
      'A dataflow is larger than what deploys: compiled definition over 1 MB, id too long for a DynamoDB key, or params nested too deep.',
    transience: 'permanent',
    seen: ['validation', 'command'],
    action:
      'Shrink what the message names (under the limit given as “expected”): shorten the id or the long values, flatten the params, or split the dataflow in two.',
  },
  IDX_DATAFLOW_NOT_FOUND: {
    summary: 'The console was asked for a dataflow id that no file in its dataflows folder has.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Open the Dataflows page and pick the dataflow from there (ids are case-sensitive).',
  },
  IDX_DATAFLOW_SHAPE: {
    summary: 'The dataflow object itself is malformed: no name, or a top-level field of the wrong type.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Correct the field at the JSON path given, to the type named under “expected”.',
  },
  IDX_DATE_INVALID: {
    summary: 'A record’s date field does not match the format the step reads.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the value at the source, or set the field’s `inputFormat` to the format the data uses.',
  },
  IDX_DATE_PATTERN: {
    summary: 'A date pattern uses a letter that is not supported.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Use only the pattern letters listed under “expected”, or a named format (ISO, epoch).',
  },
  IDX_DELIVERY_SHORTFALL: {
    summary: 'A writer delivered fewer records or bytes than it received (minus its rejected records).',
    transience: 'permanent',
    seen: ['step', 'job'],
    action:
      'The target holds less than was sent (a full disk, a server that truncates, a script that skipped records): check the target named in the message; the watermark did not move, so the next run sends the data again.',
  },
  IDX_DEPLOYED_ACCESS: {
    summary: 'AWS refused a call of a `--deployed` command (access denied, or the resource does not exist).',
    transience: 'permanent',
    seen: ['command'],
    action:
      'Check that the stack is deployed with this prefix and region, and that your identity may read its tables and start its state machines.',
  },
  IDX_DEPLOYED_AWS: {
    summary: 'AWS answered a `--deployed` command with an error not listed above.',
    transience: 'either',
    seen: ['command'],
    action:
      'Read AWS’s error name and message in the line; retry when it says the service was throttled or unavailable.',
  },
  IDX_DEPLOYED_CREDENTIALS: {
    summary: 'AWS did not accept (or could not find) the credentials of a `--deployed` command.',
    transience: 'permanent',
    seen: ['command'],
    action:
      'Configure AWS credentials (`AWS_PROFILE`, environment variables or SSO login) for the account the stack is deployed in.',
  },
  IDX_DEPLOYED_NETWORK: {
    summary: 'A `--deployed` command could not reach AWS.',
    transience: 'transient',
    seen: ['command'],
    action: 'Check the network or proxy settings and try again.',
  },
  IDX_DEPLOYED_NOT_FOUND: {
    summary: 'No deployed state machine has the name derived from the dataflow id and prefix.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Deploy first (`npx cdk deploy`), and check `AWS_REGION`, the account and `--prefix`.',
  },
  IDX_DEPLOYED_REGION: {
    summary: 'A `--deployed` command has no AWS region.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Set `AWS_REGION` (or your profile’s region) or pass `--region`.',
  },
  IDX_DEPLOYED_TIMEOUT: {
    summary: 'A deployed test run was still running when the command stopped waiting for it.',
    transience: 'permanent',
    seen: ['command'],
    action:
      'Follow the execution in the Step Functions console (link in the message), or look it up later with `idx jobs show <jobId> --deployed`.',
  },
  IDX_DEPLOY_CONTEXT: {
    summary: 'A deployment setting in the CDK context has the wrong shape.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Fix the setting in `cdk.json` (or `-c`) as the message says.',
  },
  IDX_DEPLOY_INVALID: {
    summary: 'At least one dataflow in `dataflows/` has errors, so nothing is synthesized or deployed.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Fix every problem listed (file, step, parameter), then run `cdk synth` or `cdk deploy` again.',
  },
  IDX_DEPLOY_OVERRIDE: {
    summary: '`identity-sync:params` sets a param for a dataflow or step that does not exist.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Fix the dataflow id or step id under `identity-sync:params` in `cdk.json`.',
  },
  IDX_DEPLOY_PARAM_EMPTY: {
    summary:
      'A deployed dataflow leaves empty a connection param that only has a meaning locally (an SFTP/FTP host, an S3 bucket).',
    transience: 'permanent',
    seen: ['validation'],
    action:
      'Set the param in the dataflow, or for this deployment in `cdk.json` under `identity-sync:params`; or leave the dataflow out with `identity-sync:skipDataflows`.',
  },
  IDX_DEPLOY_SECRET_UNKNOWN: {
    summary: 'A deployed dataflow names a secret that `identity-sync:secrets` does not list.',
    transience: 'permanent',
    seen: ['validation'],
    action:
      'Create the secret in Secrets Manager and add its name to `identity-sync:secrets`, or fix the name in the dataflow.',
  },
  IDX_DEPLOY_SELECTION: {
    summary: '`identity-sync:dataflows` or `identity-sync:skipDataflows` names a dataflow that is not in `dataflows/`.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Fix the id in `cdk.json`, or add the dataflow file.',
  },
  IDX_DSV_COLUMNS: {
    summary: 'A delimited row has a different number of columns than the header.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the row in the source file, or check the column separator and quote character the step is given.',
  },
  IDX_DSV_HEADER_DUPLICATE: {
    summary: 'The header row of a delimited file names a column more than once.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Fix the header at the source, or set the step’s `duplicateHeaders` to "rename" (email, email_2), "first" or "last" to say which column a repeated name stands for.',
  },
  IDX_DSV_HEADER_TOO_WIDE: {
    summary: 'The header row of a delimited file has more than 16,384 columns.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check that the file is the delimited text expected, and its column separator and line breaks.',
  },
  IDX_DSV_QUOTE: {
    summary: 'A delimited row has a quoted value that is never closed, or text after a closing quote.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the quoting in the source file (the rejected record keeps the raw row in `_raw`).',
  },
  IDX_DSV_ROW_TOO_LONG: {
    summary: 'A row of a delimited file is longer than the step’s `maxLineLength` (64 Mi characters by default).',
    transience: 'permanent',
    seen: ['record', 'step'],
    action:
      'The row went to the error path with its first 10,000 characters and the file was read on; check that the file’s line breaks are not missing, or raise `maxLineLength`. A header row that long fails the step.',
  },
  IDX_EDGE_DUPLICATE: {
    summary: 'A step lists the same step twice in `next` or `error`, which would send it every record twice.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Keep each id once in the list; to process records twice, add a second step.',
  },
  IDX_EDGE_ERROR_PATH: {
    summary: 'A step lists `error` steps but has no record-level error path to send them.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Remove the `error` edge, or move it to a step that handles records.',
  },
  IDX_EDGE_KIND: {
    summary: 'An edge connects steps whose data does not match (records into a file step, or the reverse).',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Put a parser or formatter between the two steps (`idx scripts` shows what each consumes and produces).',
  },
  IDX_EDGE_MISSING_STEP: {
    summary: '`next` or `error` names a step id that does not exist.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Correct the id (ids are compared verbatim, spaces and case included) or add the step.',
  },
  IDX_ELOQUA_API: {
    summary: "An Eloqua Bulk API request failed; the message carries Eloqua's status and its failures or message.",
    transience: 'either',
    seen: ['step'],
    action:
      "Throttling (429), 5xx and dropped connections are retried with backoff; for a 400, read Eloqua's failures (field, value, constraint) in the message and fix the step's `fields` or `filter`.",
  },
  IDX_ELOQUA_AUTH: {
    summary: 'Eloqua refused the credentials (HTTP 401/403) after a token refresh or a new base-URL discovery.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `company`, `username` and the secret behind `password` (Basic), or `clientId`, `clientSecret` and `refreshToken` (OAuth2); the user needs the API permissions of the Bulk API.',
  },
  IDX_ELOQUA_REJECTED: {
    summary: "Eloqua rejected a row of an import sync; the message is Eloqua's, `eloquaCode` its status code.",
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the contact data (an invalid or missing email address, a missing identifier) and run again.',
  },
  IDX_ELOQUA_SYNC: {
    summary: 'An Eloqua sync ended with status error, or did not end within `syncTimeoutMinutes`.',
    transience: 'either',
    seen: ['step'],
    action:
      "Read Eloqua's sync log messages in the error; a sync that did not end in time is retried (the next attempt resumes it, it does not import again).",
  },
  IDX_EVENT: {
    summary: 'The step function received an event with an unknown action.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'The state machine and the function come from different versions: deploy again so both are built from the same sources.',
  },
  IDX_EXECUTION_ABORTED: {
    summary: 'The execution was stopped before the job finished.',
    transience: 'permanent',
    seen: ['job'],
    action: 'Nothing, if it was stopped on purpose; otherwise start the dataflow again.',
  },
  IDX_EXECUTION_FAILED: {
    summary: 'The execution failed before its own failure state could record why.',
    transience: 'permanent',
    seen: ['job'],
    action: 'Read the error and cause in the job record or in the execution’s history in the Step Functions console.',
  },
  IDX_EXECUTION_TIMED_OUT: {
    summary: 'The execution reached its timeout before the job finished.',
    transience: 'permanent',
    seen: ['job'],
    action:
      'Look at the job’s per-step counters to see where the time went; raise the state machine timeout or give the slow step more memory.',
  },
  IDX_EXPRESSION_FAILED: {
    summary: 'A field expression threw while evaluated on a record.',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Guard the expression against the record’s values (missing fields, wrong types), or fix the record at the source.',
  },
  IDX_EXPRESSION_INVALID: {
    summary: 'A field expression does not compile.',
    transience: 'permanent',
    seen: ['validation', 'step'],
    action: 'Correct the JEXL syntax of the expression at the path given.',
  },
  IDX_FILE_NAME_COLLISION: {
    summary: 'Two files of one job would be delivered under the same name on the same target.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Make the names differ (a `${now}` or per-step part in fileName, or a different remotePath), or set `overwrite: true` on the writer when the later file may replace the earlier one.',
  },
  IDX_FILE_NOT_FOUND: {
    summary: 'A file named on the command line does not exist (or an id names no file in `dataflows/`).',
    transience: 'permanent',
    seen: ['command'],
    action: 'Check the path, or give the id of a dataflow in `dataflows/`.',
  },
  IDX_FILE_READ: {
    summary: 'The dataflow file cannot be read.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Check the path and the file’s permissions.',
  },
  IDX_FORMAT_USER_ID: {
    summary:
      'A record to write as an audience file line (Krux, Adobe Audience Manager) has no user ID, or one the format cannot carry.',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Give every record the ID field the step names (idField / userIdField), e.g. by renaming UID to it; the message says which character the format refuses.',
  },
  IDX_FORMAT_VALUE: {
    summary: 'A record holds a value the audience file format refuses (a Krux value of 255 characters or more).',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Shorten or remove the field named in `_errorDetails.field` before the formatter (field.evaluate, field.remove).',
  },
  IDX_FTP_AUTH: {
    summary: 'The FTP server refused the login.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check `username` and the secret behind `password`.',
  },
  IDX_FTP_CERTIFICATE: {
    summary: 'The FTPS server’s TLS certificate is not trusted.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Pin the certificate with `certificateFingerprint` (its SHA-256), or have the server use a certificate from a trusted CA.',
  },
  IDX_FTP_CERTIFICATE_MISMATCH: {
    summary: 'The FTPS server presented a certificate other than the pinned one.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'If the server’s certificate was renewed, pin the new fingerprint; if not, do not connect: someone may be in between.',
  },
  IDX_FTP_IO: {
    summary: 'An FTP listing, transfer, rename or delete failed.',
    transience: 'either',
    seen: ['step'],
    action:
      'Transient failures (dropped connections) are retried; for a permanent one, check the path, the folder’s permissions and free space on the server.',
  },
  IDX_GIGYA_API: {
    summary: 'A Gigya method answered with an error code.',
    transience: 'either',
    seen: ['step'],
    action:
      'Read Gigya’s error code and message in the details (quote the callId to SAP support). Throttling and server errors (403048, 500001, 504001, 409030) are retried; others need the request, the credentials or the site’s settings fixed.',
  },
  IDX_GIGYA_BUDGET: {
    summary:
      "The calls-per-second budget that a Map state's partitions share in the state table stayed contended: every attempt to take a slot met another taker's write.",
    transience: 'transient',
    seen: ['step'],
    action:
      'Nothing: the step is retried. If it persists, lower the partitions read at once (a lower maxCallsPerSecond) or check the state table for throttling.',
  },
  IDX_GIGYA_CREDENTIALS: {
    summary: 'The Gigya credentials of a step are incomplete.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Give the step `apiKey`, and `userKey` with `secret` (or `privateKey`), as `${secret:NAME}` references; or create the secrets GIGYA_API_KEY, GIGYA_USER_KEY and GIGYA_SECRET, which steps without their own credentials use.',
  },
  IDX_GIGYA_NETWORK: {
    summary: 'A Gigya request got no HTTP response (connection refused, reset or timed out).',
    transience: 'transient',
    seen: ['step'],
    action:
      'It is retried; if it keeps failing, check the data center in the step and that the function can reach the internet.',
  },
  IDX_GIGYA_NO_UID: {
    summary: 'A record to write to a Gigya account has no UID.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Look the UID up before this step (datasource.lookup.gigya.account or uidmap.lookup).',
  },
  IDX_GIGYA_PARTITION_FIELD: {
    summary:
      'A partitioned Gigya read has no field to cut into ranges: a Data Store reader without `deltaField`, or a probed value of the field that is not a time.',
    transience: 'permanent',
    seen: ['validation', 'step'],
    action:
      'Give the step a `deltaField` holding a time (epoch ms, or ISO-8601 for the audit log), or leave `partitions` out to read one cursor.',
  },
  IDX_GIGYA_PRIVATE_KEY: {
    summary: 'The Gigya `privateKey` for signed bearer tokens is not an RSA private key that can be read.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Give the secret behind `privateKey` the application’s RSA private key in PEM (PKCS#1 or PKCS#8), whole, with its BEGIN and END lines.',
  },
  IDX_GIGYA_RESPONSE: {
    summary: 'Gigya answered with something other than its JSON envelope.',
    transience: 'either',
    seen: ['step'],
    action:
      'HTTP 5xx and 429 are retried; otherwise check that the endpoint (data center, or a proxy in between) is Gigya’s.',
  },
  IDX_GIGYA_SELECT: {
    summary: 'The `select` param names no field.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'List the fields to read, e.g. `UID,profile.email`, or leave `select` out to read whole accounts.',
  },
  IDX_GIGYA_STATE: {
    summary: "The local Gigya emulator's state folder holds a line it cannot read (a corrupt account log).",
    transience: 'permanent',
    seen: ['command'],
    action: 'Remove the bad line named in the message, or start afresh with `idx gigya clear` and `idx gigya seed`.',
  },
  IDX_GIGYA_WHERE_SECRET: {
    summary: 'A `where` clause holds a secret reference, which would be sent as query text and logged.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Remove the `${secret:…}` from `where`.',
  },
  IDX_GIGYA_WHERE_TIME: {
    summary: 'A `where` clause uses a time placeholder in a run that is not a full extract.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Set `fullExtract` on the schedule or the step, or remove the `${now…}` from `where`.',
  },
  IDX_GRAPH_CYCLE: {
    summary: 'The steps form a cycle.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Remove one of the `next` or `error` edges of the cycle the message lists.',
  },
  IDX_GRAPH_ENTRY_KIND: {
    summary: 'The entry step needs input, so nothing would feed it.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Start the dataflow with a reader (a step that consumes nothing).',
  },
  IDX_GRAPH_MULTIPLE_ENTRIES: {
    summary: 'More than one step is pointed to by no other step.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Connect the extra entry steps to the graph, or remove them.',
  },
  IDX_GRAPH_NO_ENTRY: {
    summary: 'Every step is pointed to by another step, so the dataflow has no entry.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Remove the edge that points to the reader.',
  },
  IDX_GRAPH_UNREACHABLE: {
    summary: 'A step cannot be reached from the entry step.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'List the step in some step’s `next` or `error`, or remove it.',
  },
  IDX_GZIP_CORRUPT: {
    summary: 'A file to uncompress is not readable gzip data.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check that the source delivers gzip files, complete (a truncated upload fails the same way).',
  },
  IDX_GZIP_FAILED: {
    summary: 'Compressing a file with gzip failed.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Read the cause in the message; run the job again, and report it if it repeats.',
  },
  IDX_HTTP_BAD_REQUEST: {
    summary:
      'A console request is malformed: a body that is not JSON, a missing or mistyped field, or an id that is not one.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Send the fields the message names, with the types it expects (the console’s own pages always do).',
  },
  IDX_HTTP_BODY_TOO_LARGE: {
    summary: 'A console request body is larger than the console accepts.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Keep dataflow files under the limit the message names; a dataflow that size cannot deploy either.',
  },
  IDX_HTTP_CONTENT_TYPE: {
    summary: 'A state-changing console request did not declare its body as `application/json`.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Send the body as JSON with `Content-Type: application/json`.',
  },
  IDX_HTTP_FORBIDDEN: {
    summary:
      'A state-changing console request came from another origin, or from a page that did not say where it came from (a CSRF guard).',
    transience: 'permanent',
    seen: ['request'],
    action: 'Use the console’s own pages; a script must send an `Origin` header equal to the console’s URL.',
  },
  IDX_HTTP_METHOD: {
    summary: 'A console address was requested with a method it does not answer.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Pages are read with GET; actions are POST. The `Allow` header of the answer lists the methods.',
  },
  IDX_HTTP_NOT_FOUND: {
    summary: 'The console has no page or action at the requested address.',
    transience: 'permanent',
    seen: ['request'],
    action: 'Start from the console’s home page (the URL `idx console` prints).',
  },
  IDX_INPUT: {
    summary: 'The execution input is not a JSON object, or one of its fields has the wrong type.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Start the execution with `{}` or with the fields `test`, `limit`, `fullExtract`, `logLevel`, `scheduleId`, `maxAttempts` of the types named under “expected”.',
  },
  IDX_INTERNAL: {
    summary: 'An unexpected error that carries no code of its own.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Report it with the message and the job’s trace.',
  },
  IDX_JOB_CURSOR_INVALID: {
    summary:
      'The cursor given to a job listing (`idx jobs --cursor`, the Jobs page’s older link, `/api/jobs?cursor=`) is not one a listing handed out.',
    transience: 'permanent',
    seen: ['command', 'request'],
    action: 'Start again from the newest jobs (no cursor) and follow the cursor each page gives, unchanged.',
  },
  IDX_JOB_NOT_FOUND: {
    summary: 'No job has the id given to `idx jobs show`.',
    transience: 'permanent',
    seen: ['command'],
    action: 'List the jobs with `idx jobs` (add `--deployed` for the deployed table) and copy the id from there.',
  },
  IDX_JOB_NOT_RUNNING: {
    summary: 'Stop was asked for a job that is not running in this console (it ended, or another process runs it).',
    transience: 'permanent',
    seen: ['request'],
    action:
      'Reload the job: it may have ended meanwhile. A run started by `idx run` is stopped with Ctrl-C in its terminal.',
  },
  IDX_JOB_READ_THROTTLED: {
    summary:
      'DynamoDB kept handing back the job records of a listing page unread (BatchGetItem’s unprocessed keys), as it does while the jobs table is throttled.',
    transience: 'transient',
    seen: ['command', 'request'],
    action: 'List again in a moment; if it persists, look at the jobs table’s throttling metrics in CloudWatch.',
  },
  IDX_JSON_INVALID: {
    summary: 'A file to parse is not valid JSON.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Fix the file at the source; for an array wrapped in an object, set `wrapField` to the property that holds it.',
  },
  IDX_JSON_DEPTH: {
    summary: 'A JSON record is nested deeper than the step’s `maxDepth` (1,000 by default).',
    transience: 'permanent',
    seen: ['record'],
    action: 'Check the source of the record; raise `maxDepth` if such nesting is expected.',
  },
  IDX_JSON_LINE: {
    summary: 'A line of a JSON Lines file is not valid JSON.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the line in the source file (its line number is in `_errorDetails.line`).',
  },
  IDX_JSON_NUMBER: {
    summary:
      'A JSON number cannot be represented exactly as a double (more digits than 2^53 holds, or beyond its range) and the step’s `exactNumbers` is "reject".',
    transience: 'permanent',
    seen: ['record'],
    action: 'Set `exactNumbers: "string"` to keep such numbers exactly, as text, or fix the source.',
  },
  IDX_JSON_NOT_OBJECT: {
    summary: 'A JSON value that should become a record is not an object.',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Fix the value at the source; for an array wrapped in an object, set `wrapField` to the property that holds it.',
  },
  IDX_JSON_SYNTAX: {
    summary: 'The dataflow file is not valid JSON.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Fix the JSON syntax at the position the message gives.',
  },
  IDX_JSON_TOO_LONG: {
    summary:
      'A JSON Lines line or array element is longer than the step’s `maxLineLength` (64 Mi characters by default).',
    transience: 'permanent',
    seen: ['record'],
    action:
      'The line went to the error path with its first 10,000 characters and the file was read on; check the source, or raise `maxLineLength`.',
  },
  IDX_JSON_VALUE: {
    summary: 'An element of a JSON array cannot be read as a record.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the element in the source file (its index is in `_errorDetails.index`).',
  },
  IDX_LANE_EXIT: {
    summary: 'A worker thread running a parallel lane stopped with a non-zero exit code.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Usually memory: give the step function more memory, or turn lanes off (`IDX_LANES=1`) to compare; report it if it repeats.',
  },
  IDX_LANE_PLAN: {
    summary: 'Steps were sent to parallel lanes that cannot run in them.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Report it with the step types in the message; running without lanes (`IDX_LANES=1`) avoids it.',
  },
  IDX_LANE_SERVICES: {
    summary: 'A script running in a parallel lane asked for a service lanes do not provide.',
    transience: 'permanent',
    seen: ['step'],
    action: 'A script declares lane support it cannot honour; report it with the step type.',
  },
  IDX_LOCAL_BUSY: {
    summary: 'The embedded services of a local state folder are held by another idx process that does not share them.',
    transience: 'transient',
    seen: ['command'],
    action: 'Wait for the other `idx` process to end, or point `IDX_HOME` at another state folder.',
  },
  IDX_LOCAL_SERVICE: {
    summary:
      'An embedded stand-in of local mode (S3, SFTP) did not start in its service thread, or that thread ended while its servers ran.',
    transience: 'permanent',
    seen: ['command'],
    action:
      'Read the reason in the message (a port in use, a state folder that cannot be written, a thread out of memory); fix it and run again, or point `IDX_S3_ENDPOINT` at a running S3.',
  },
  IDX_LOOKUP_MATCH: {
    summary: 'An account matches the record, and the step is set to reject matches.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Expected when `matchBehavior` is `error`; otherwise set it to `process` or `skip`.',
  },
  IDX_LOOKUP_MULTI_MATCH: {
    summary: 'More than one account matches the record, and the step is set to reject that.',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Make the lookup keys unique in Gigya, or set `multiMatchBehavior` to `process` (first match, or one record per match with `separateMultiMatches`) or `skip`.',
  },
  IDX_LOOKUP_NO_MATCH: {
    summary: 'No account matches the record (or it has no key value), and the step is set to reject that.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Check the record’s `lookupFields`, or set `mismatchBehavior` to `process` or `skip`.',
  },
  IDX_LZO_CHECKSUM: {
    summary:
      'A checksum in an lzop (.lzo) file does not match its header, data or compressed bytes: the file is corrupt.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Get the file again from its source (`lzop -t` reports the same error); nothing from the corrupt block was passed on.',
  },
  IDX_LZO_CORRUPT: {
    summary:
      'A file to uncompress is not readable lzop (.lzo) data: not lzop, truncated, or a block that does not decompress.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check that the source delivers complete .lzo files as lzop or Hadoop write them (a truncated upload fails the same way); the message gives the byte offset.',
  },
  IDX_LZO_FAILED: {
    summary: 'Compressing a file with LZO failed.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Read the cause in the message; run the job again, and report it if it repeats.',
  },
  IDX_LZO_UNSUPPORTED: {
    summary: 'An lzop file uses a compression method other than LZO1X, an lzop filter, or several volumes.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Have the file written with plain `lzop` (levels -1 to -9) or Hadoop’s LzopCodec.',
  },
  IDX_MAILCHIMP_API: {
    summary:
      'The Mailchimp Marketing API refused a call or could not be reached; the message carries its title and detail.',
    transience: 'either',
    seen: ['step'],
    action:
      "Read Mailchimp's title and detail in the message (e.g. Resource Not Found: check `listId`). 429, 5xx and dropped connections were retried with backoff (`maxAttempts`).",
  },
  IDX_MAILCHIMP_AUTH: {
    summary: 'Mailchimp refused the API key (401 API Key Invalid) or its data center (403).',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check the secret behind `apiKey` and that `apiUrl` names the data center the key ends with (or leave `<dc>` in it).',
  },
  IDX_MAILCHIMP_REJECTED: {
    summary:
      'Mailchimp refused one member of a batch subscribe call, or the record cannot be a member (no address, an unknown newsletter value).',
    transience: 'permanent',
    seen: ['record'],
    action:
      "Read `_errorDetails.message` (Mailchimp's reason, with its `mailchimpCode`) and fix the address or merge fields at the source.",
  },
  IDX_MARKETING_CLOUD_API: {
    summary:
      "A Marketing Cloud REST request failed; the message carries the HTTP status and Marketing Cloud's message and errorcode.",
    transience: 'either',
    seen: ['step'],
    action:
      'Throttling (429, errorcode 50100/50200), 5xx and dropped connections are retried with backoff; otherwise check `dataExtension` (the external key) and that the installed package may write data extensions.',
  },
  IDX_MARKETING_CLOUD_AUTH: {
    summary: 'The Marketing Cloud token endpoint refused the client credentials, or the API refused a fresh token.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `authBaseUrl` (the Authentication Base URI of the installed package), `clientId`, the secret behind `clientSecret`, and the package’s data extension scopes.',
  },
  IDX_MARKETING_CLOUD_REJECTED: {
    summary: "Marketing Cloud refused a data extension row; the message is Marketing Cloud's.",
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the row (a missing primary key, a value of the wrong type or length) and run again.',
  },
  IDX_MARKETO_AUTH: {
    summary: 'Marketo refused the client credentials, or a renewed access token (601/602).',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `baseUrl` (https://<munchkin id>.mktorest.com), `clientId` and the secret behind `clientSecret` of the LaunchPoint custom service.',
  },
  IDX_MARKETO_ERROR: {
    summary:
      'Marketo answered a call with `success: false` and a code that another attempt cannot fix; the message is Marketo’s.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Read Marketo’s code and message (603 access denied, 607 daily quota reached, 1006 a field that does not exist) and fix that cause.',
  },
  IDX_MARKETO_JOB_FAILED: {
    summary: 'A Marketo bulk lead import batch ended Failed; the message is Marketo’s.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Read Marketo’s message, fix the columns (REST API field names) or the lookup field, and run the job again.',
  },
  IDX_MARKETO_REJECTED: {
    summary:
      'Marketo refused one lead of a bulk import; `_errorDetails.message` is Marketo’s reason from the failures file.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the record (a value of the wrong type, a missing lookup field) and send it again.',
  },
  IDX_MARKETO_UNAVAILABLE: {
    summary:
      'Marketo kept answering 5xx or a transient code (604, 606, 608, 611, 615, 713, 1016), or the connection kept failing, after every attempt.',
    transience: 'transient',
    seen: ['step'],
    action:
      'Wait and run again; check other clients of the subscription (100 calls per 20 s, 10 at once, 2 imports at a time).',
  },
  IDX_NAME_RESERVED: {
    summary:
      'A step id or a param name is one JavaScript objects reserve (`__proto__`, `constructor`, `toString`, …), which would not survive as a key.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Rename the step or the key (for example `constructor` → `constructor_step`), and the edges that name it.',
  },
  IDX_NETWORK: {
    summary: 'A network failure (connection reset, refused or timed out) that no connector coded.',
    transience: 'transient',
    seen: ['step'],
    action: 'It is retried; if it keeps failing, check that the function can reach the endpoint.',
  },
  IDX_NOT_AN_ARRAY: {
    summary: 'The field to extract from a record holds something other than an array.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the record at the source, or set `field` to the path of the array.',
  },
  IDX_OUT_OF_MEMORY: {
    summary:
      "A local run needed more memory than the CLI's heap allows (live heap after a full garbage collection above 85 % of the limit).",
    transience: 'permanent',
    seen: ['command'],
    action:
      'Give the process more heap (`node --max-old-space-size=N bin/idx.js …`), or lower `IDX_LANES`; report it if the step should stream.',
  },
  IDX_PARAM_MISSING: {
    summary: 'A required param is missing or empty.',
    transience: 'permanent',
    seen: ['validation', 'step'],
    action: 'Add the param named in the message (`idx scripts` and docs/scripts.md list every param).',
  },
  IDX_PARAM_TYPE: {
    summary: 'A param has the wrong type.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Give the param a value of the type named under “expected”.',
  },
  IDX_PARAM_UNKNOWN: {
    summary: 'A step has a param its script does not know.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Correct the name (the message lists the known ones) or remove the param.',
  },
  IDX_PARAM_VALUE: {
    summary: 'A param has a value the script does not allow.',
    transience: 'permanent',
    seen: ['validation', 'step'],
    action: 'Use one of the values described under “expected”.',
  },
  IDX_PARTITION_PLAN: {
    summary:
      "A partitioned reader's Map state got a plan it cannot read (no partitions, more than 256, or out of order), or a partition that did not finish with staged records.",
    transience: 'permanent',
    seen: ['step'],
    action:
      "Set the step's `partitions` to at most 256, or to 1 for a single cursor; a partition that did not finish is a bug to report with the job trace.",
  },
  IDX_PGP_FAILED: {
    summary: 'Encrypting or decrypting a file with PGP failed.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'For decryption: check that the file was encrypted for the step’s private key and arrived complete; for encryption, check the public keys.',
  },
  IDX_PGP_KEY: {
    summary: 'A PGP key param cannot be read, or its passphrase is missing.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Store the armored key (and its passphrase) as secrets and reference them with `${secret:NAME}`.',
  },
  IDX_PGP_UNSUPPORTED: {
    summary:
      'A PGP key or message uses an algorithm or feature identity-sync does not implement (named in the message).',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Use what docs/pgp.md lists as supported: RSA or Curve25519 keys (v4), AES with an integrity check, ZIP/ZLIB or no compression (e.g. GnuPG defaults).',
  },
  IDX_PLACEHOLDER_PATTERN: {
    summary: 'A placeholder has a pattern or offset it does not take.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Write it as shown under “expected”, e.g. `${now:yyyy-MM-dd}` or `${now-1h}`.',
  },
  IDX_PLACEHOLDER_UNKNOWN: {
    summary: 'A `${…}` placeholder is not one identity-sync knows, or a secret name is invalid.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Use `${now}`, `${unix}`, `${jobId}`, `${dataflowId}`, `${apiKey}` or `${secret:NAME}`.',
  },
  IDX_REGEX_INVALID: {
    summary: 'A regular expression param does not compile.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Fix the expression (JavaScript syntax; backslashes are doubled inside JSON strings).',
  },
  IDX_REGEX_UNSUPPORTED: {
    summary:
      'A regular expression param uses a construct the linear-time engine (RE2) cannot run: a backreference, a lookahead or lookbehind, an atomic group or a possessive quantifier.',
    transience: 'permanent',
    seen: ['validation'],
    action:
      'Rewrite the expression without the construct named in the message (e.g. match more and cut with a second rule); patterns run in linear time so that no file name or value can stall a job.',
  },
  IDX_REGISTRY_DUPLICATE: {
    summary: 'Two scripts were registered under one type.',
    transience: 'permanent',
    seen: ['command', 'step'],
    action: 'Give the new script a type of its own in `lib/scripts/`.',
  },
  IDX_REMOTE_PATH_UNSAFE: {
    summary: 'A file or folder name could leave the configured folder (`..`, an absolute path, control characters).',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Use plain relative names in the step’s params; a name that came from the server is refused on purpose: ask its owner.',
  },
  IDX_RUN_LOCKED: {
    summary: 'Another run of the same dataflow holds the run lock.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Wait for the running job to end (`idx jobs`). A lock whose run is gone (its job ended, or its local process died) is taken over by the next run; locally, `idx unlock <dataflow>` releases any other lock whose run has ended; deployed, the lock is released when the execution ends, and otherwise expires after its time to live (6 hours by default).',
  },
  IDX_S3_ACCESS_DENIED: {
    summary: 'S3 refused access to a bucket or object.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Grant the function’s role (or the step’s access key) the bucket and prefix; a bucket name with a placeholder, or a KMS key of your own, needs a grant of your own.',
  },
  IDX_S3_CREDENTIALS: {
    summary: 'Only one of `accessKey` and `secretKey` is given.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Give both (as secrets), or neither to use the function’s role.',
  },
  IDX_S3_IO: {
    summary: 'An S3 request failed.',
    transience: 'either',
    seen: ['step'],
    action: 'Throttling, 5xx and dropped connections are retried; for others, read the S3 error name in the message.',
  },
  IDX_S3_NOT_FOUND: {
    summary: 'The bucket or object does not exist.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check `bucketName` and `objectKeyPrefix`; an object may have been removed after it was listed.',
  },
  IDX_S3_WRONG_REGION: {
    summary: 'The bucket is in another region than the one the step uses.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Set the step’s `region` to the bucket’s region.',
  },
  IDX_SALESFORCE_API: {
    summary:
      "A Salesforce REST or Bulk API 2.0 request failed; the message carries the HTTP status and Salesforce's errorCode and message.",
    transience: 'either',
    seen: ['step'],
    action:
      'Throttling (429, 403 REQUEST_LIMIT_EXCEEDED), 5xx and dropped connections are retried with backoff; otherwise read the errorCode (an unknown object or field, an external id field that is not one) and fix `objectType` or `primaryId`.',
  },
  IDX_SALESFORCE_AUTH: {
    summary: 'Salesforce refused the login (SOAP fault or OAuth error), or refused a fresh session.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check `authEndpoint`, `username`, and the secrets behind `password` and `token` (the security token is appended to the password), or `clientId`/`clientSecret`; the user needs the "API Enabled" permission.',
  },
  IDX_SALESFORCE_JOB: {
    summary:
      "A Salesforce Bulk API 2.0 ingest job ended Failed or Aborted, or did not end within `jobTimeoutMinutes`; the message is Salesforce's errorMessage.",
    transience: 'either',
    seen: ['step'],
    action:
      "Read Salesforce's errorMessage (an unknown column, a locked row, a batch retried past its cap); a job that did not end in time is retried, and the retry resumes it by id instead of uploading again.",
  },
  IDX_SALESFORCE_REJECTED: {
    summary: "Salesforce refused a row of an ingest job; the message is Salesforce's `sf__Error` (`CODE:message`).",
    transience: 'permanent',
    seen: ['record'],
    action:
      'Fix the record (a missing required field, an invalid email, a value too long, a duplicate external id) and run again.',
  },
  IDX_SCHEDULE_FIELD: {
    summary: 'A scheduling object has a field with an invalid value.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Correct the field named in the path (frequencyType, frequencyInterval, nextJobStartTime in UTC, …).',
  },
  IDX_SCHEDULE_NOT_FOUND: {
    summary: '`idx run --schedule` names a schedule the dataflow does not have.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Use the `id` or `name` of one of the dataflow’s `schedules`.',
  },
  IDX_SCHEDULE_SHAPE: {
    summary: '`schedules` is not an array of objects.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Write `schedules` as an array of IdentitySync scheduling objects.',
  },
  IDX_SCRIPT_CONTRACT: {
    summary: 'A script broke the engine’s contract (a missing hook, a file read twice that streams once).',
    transience: 'permanent',
    seen: ['step'],
    action: 'Report it with the step type; the script must be fixed.',
  },
  IDX_SCRIPT_ERROR: {
    summary: 'The `process` function of a record.evaluate script threw on a record.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Fix the script for the record the error shows (the record goes down the error path).',
  },
  IDX_SCRIPT_INVALID: {
    summary: 'A record.evaluate script is not base64 JavaScript that defines `process`.',
    transience: 'permanent',
    seen: ['validation', 'step', 'record'],
    action: 'Encode the script in base64, and define `function process(record, ctx, logger, next, error)` in it.',
  },
  IDX_SCRIPT_MEMORY: {
    summary: 'A record.evaluate script ran out of the memory its sandbox allows while processing a record.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Keep less in the script’s variables and shared variables (or build smaller values), or raise `memoryMb`.',
  },
  IDX_SCRIPT_REJECTED: {
    summary: 'A record.evaluate script rejected the record by calling `error()`.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Expected when the script rejects on purpose; the script’s message says why.',
  },
  IDX_SCRIPT_RESULT: {
    summary: 'A record.evaluate script returned something other than a record or null.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Return the record to pass it on, or null to drop it, synchronously.',
  },
  IDX_SCRIPT_TIMEOUT: {
    summary: 'A record.evaluate script ran longer than its time limit on one record.',
    transience: 'permanent',
    seen: ['record'],
    action: 'Make the script faster (no unbounded loops), or raise `timeoutMs`.',
  },
  IDX_SECRET_MASKED: {
    summary: 'A credential holds the console mask `********` instead of a secret reference.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Replace the mask with `${secret:NAME}` (a dataflow exported from the console masks its credentials).',
  },
  IDX_SECRET_MISSING: {
    summary: 'A secret the dataflow references is not set, has no string value or cannot be read.',
    transience: 'either',
    seen: ['step'],
    action:
      'Deployed: create `identity-sync/NAME` in Secrets Manager (a plain string). Locally: set `IDX_SECRET_NAME` or add the name to `.idx/secrets.json`. Throttling and 5xx are retried.',
  },
  IDX_SFTP_AUTH: {
    summary: 'The SFTP server refused the login.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check `username` and the secret behind `password` or `privateKey`.',
  },
  IDX_SFTP_HOST_KEY_MISMATCH: {
    summary: 'The SFTP server presented a host key other than the pinned one.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'If the server’s key was changed, pin the new `hostKeyFingerprint` (SHA256:…); if not, do not connect: someone may be in between.',
  },
  IDX_SFTP_IO: {
    summary: 'An SFTP listing, transfer, rename or delete failed.',
    transience: 'either',
    seen: ['step'],
    action:
      'Transient failures (dropped connections) are retried; for a permanent one, check the path, the folder’s permissions and free space on the server.',
  },
  IDX_SFTP_PRIVATE_KEY: {
    summary: 'The SFTP `privateKey` cannot be read, or `passphrase` does not decrypt it.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Give the secret behind `privateKey` a whole private key (OpenSSH, PEM or PuTTY, as text or base64) and the secret behind `passphrase` its passphrase.',
  },
  IDX_STAGE_CORRUPT: {
    summary: 'A staged record between two steps is not JSON.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Staged objects are written by the engine only: run the job again, and report it if it repeats.',
  },
  IDX_STAGE_IO: {
    summary: 'Reading or writing a staged object in the stage bucket failed.',
    transience: 'either',
    seen: ['step'],
    action:
      'Throttling and 5xx are retried; otherwise check the function’s access to the stage bucket and that the object has not expired.',
  },
  IDX_STATE_IO: {
    summary:
      'Reading or writing the dataflow state table in DynamoDB failed (processed-file marks, delivery target claims, the IDX API’s nonces).',
    transience: 'either',
    seen: ['step', 'request'],
    action: 'Throttling and 5xx are retried; otherwise check the function’s access to the dataflow state table.',
  },
  IDX_STEP_DUPLICATE_ID: {
    summary: 'Two steps have the same id.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Give each step its own id.',
  },
  IDX_STEP_FIELD_UNKNOWN: {
    summary: 'A step has a field that is not part of the step object; it is kept but not used (a warning).',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Move the value into `params` if it was meant as one, or remove it.',
  },
  IDX_STEP_SHAPE: {
    summary: 'A step is malformed: not an object, no id or type, or params not an object.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Correct the step at the JSON path given.',
  },
  IDX_STEP_TYPE_NOT_IMPLEMENTED: {
    summary: 'A step type is an IdentitySync component identity-sync does not implement yet.',
    transience: 'permanent',
    seen: ['validation'],
    action: 'Replace the step with an implemented script (`idx scripts`), or leave it out.',
  },
  IDX_STEP_TYPE_UNKNOWN: {
    summary: 'A step type is not a known script.',
    transience: 'permanent',
    seen: ['validation', 'step'],
    action:
      'Correct the type (`idx scripts` lists them); at run time, deploy again so the function has the scripts the dataflow uses.',
  },
  IDX_TARGET_EXISTS: {
    summary: 'A writer found a file of the same name already on its target, delivered by another job.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Nothing was replaced. Move or remove the file on the target, make the names unique (e.g. `${now}` in fileName), or set `overwrite: true` on the writer to replace files of the same name.',
  },
  IDX_TEMPLATE_NOT_FOUND: {
    summary: 'No shipped dataflow is a template of the integration and direction asked for.',
    transience: 'permanent',
    seen: ['command', 'request'],
    action: 'Pick one of the templates the message lists (`idx init --list` prints them).',
  },
  IDX_UIDMAP_NO_MATCH: {
    summary: 'The UID map has no UID for the record’s key (or the record has no key).',
    transience: 'permanent',
    seen: ['record'],
    action:
      'Expected for contacts no outbound flow mapped yet; check `keyField` and `namespace` if every record lands here.',
  },
  IDX_UIDMAP_THROTTLED: {
    summary: 'DynamoDB left UID map reads or writes unprocessed after every attempt.',
    transience: 'transient',
    seen: ['step'],
    action: 'It is retried; if it persists, check the UID map table’s capacity and throttling metrics.',
  },
  IDX_USAGE: {
    summary: 'A command was given arguments it does not accept.',
    transience: 'permanent',
    seen: ['command'],
    action: 'Run it as the usage line in the message shows (`idx help` lists the commands).',
  },
  IDX_UNCOMPRESS_LIMIT: {
    summary:
      'A compressed file expands beyond the step’s `maxOutputSize`, or by more than its `maxRatio` (a compression bomb).',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Check the archive’s source; if the size is expected, raise `maxOutputSize` or `maxRatio`. Nothing from the file was passed on.',
  },
  IDX_ZIP_CORRUPT: {
    summary: 'A zip file, or an entry in it, cannot be extracted.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Check that the source delivers complete zip files (a truncated upload fails the same way).',
  },
  IDX_ZIP_CRC: {
    summary: 'A zip entry’s content does not match its CRC-32: the archive is corrupt.',
    transience: 'permanent',
    seen: ['step'],
    action:
      'Get the archive again from its source (`unzip -t` shows the same error); nothing from the entry was passed on.',
  },
  IDX_ZIP_FAILED: {
    summary: 'Writing a zip file failed.',
    transience: 'permanent',
    seen: ['step'],
    action: 'Read the cause in the message; run the job again, and report it if it repeats.',
  },
} as const satisfies Record<`IDX_${string}`, ErrorCodeEntry>;

/** A catalogued error code: the only codes an `IdxError` or a validation problem may carry. */
export type IdxErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is catalogued (for codes that arrive as data, e.g. across a worker thread). */
export function isIdxErrorCode(code: unknown): code is IdxErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The Step Functions error name of errors worth retrying. */
export const TRANSIENT_ERROR_NAME = 'IdxTransientError';
/** The Step Functions error name of errors that will fail again. */
export const PERMANENT_ERROR_NAME = 'IdxError';

/** The Step Functions error name an error takes: what Retry and Catch match. */
export function errorNameOf(transient: boolean): string {
  return transient ? TRANSIENT_ERROR_NAME : PERMANENT_ERROR_NAME;
}

/** True when an error with this code may be transient, so the state machine must retry it. */
export function mayBeTransient(code: IdxErrorCode): boolean {
  return ERROR_CODES[code].transience !== 'permanent';
}

/** The error names the compiled Retry must match: the name each code that may be transient takes when it is. */
export function retryableErrorNames(): string[] {
  // Every transient error takes one name, whatever its code.
  return (Object.keys(ERROR_CODES) as IdxErrorCode[]).some(mayBeTransient) ? [errorNameOf(true)] : [];
}

const TRANSIENCE_TEXT: Record<Transience, string> = {
  transient: 'transient',
  permanent: 'permanent',
  either: 'transient or permanent',
};

/** The error code reference (docs/errors.md), generated from {@link ERROR_CODES}. */
export function errorCodesMarkdown(): string {
  const out = [
    '# Error codes',
    '',
    'Generated from the catalogue in `lib/core/error-codes.ts` by `idx schema --write`; do not edit by hand.',
    '',
    'Every error identity-sync raises on purpose carries one of these codes, with what was expected, what was',
    'received and where (dataflow file, step, parameter). The code starts every error line `idx` prints, is kept in',
    'the job record, and is the `_errorDetails.code` of a rejected record.',
    '',
    `- **Transient** errors are retried with backoff: deployed, every Task retries the error name \`${TRANSIENT_ERROR_NAME}\`;`,
    '  locally, `idx run` does the same. **Permanent** errors fail at once. For codes that are **transient or',
    '  permanent**, the error says which (its `transient` field), e.g. an S3 503 is retried and a 403 is not.',
    '- **Shows up**: `validation` a problem in a dataflow (`idx validate`, `cdk synth`); `step` a failed step, and so',
    '  a failed job once retries are spent; `record` one rejected record, sent down the step’s `error` path while the',
    '  job goes on; `job` the error of a job whose execution ended without finishing it; `command` a stopped `idx`',
    '  command or `cdk synth`; `request` an HTTP request the console refused (a JSON answer with the code).',
    '',
    '| code | transient? | shows up | summary |',
    '| --- | --- | --- | --- |',
  ];
  const codes = (Object.keys(ERROR_CODES) as IdxErrorCode[]).sort();
  for (const code of codes) {
    const e: ErrorCodeEntry = ERROR_CODES[code];
    out.push(
      `| [\`${code}\`](#${code.toLowerCase()}) | ${TRANSIENCE_TEXT[e.transience]} | ${e.seen.join(', ')} | ${e.summary} |`,
    );
  }
  for (const code of codes) {
    const e: ErrorCodeEntry = ERROR_CODES[code];
    out.push(
      '',
      `## ${code}`,
      '',
      e.summary,
      '',
      `**${TRANSIENCE_TEXT[e.transience][0]?.toUpperCase()}${TRANSIENCE_TEXT[e.transience].slice(1)}**; shows up as: ${e.seen.join(', ')}.`,
      '',
      `**What to do:** ${e.action}`,
    );
  }
  return `${out.join('\n')}\n`;
}
