/** The FTP(S) account of a step: its endpoint from the step's params, as a {@link RemoteFolder}. */
import { FtpConnection, type FtpEndpoint, FtpFileSource, FtpFileTarget } from '../../connectors/ftp.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { ftpConnectionParams } from './file-transfer.ts';
import type { RemoteFolder } from './remote-files.ts';

/** The connection params of the FTP steps, as resolved. */
export type FtpParams = ParamsOf<typeof ftpConnectionParams>;

/** The endpoint of a step from its params; blank optional values count as unset. */
export function ftpEndpoint(params: FtpParams): FtpEndpoint {
  return {
    host: params.host.trim(),
    port: params.port,
    username: params.username,
    ...(params.password ? { password: params.password } : {}),
    secure: params.secure,
    ...(params.certificateFingerprint?.trim() ? { certificateFingerprint: params.certificateFingerprint } : {}),
    timeoutMs: params.timeout * 1000,
  };
}

/** The account a step's params name, as its readers and writers name it (`ftp://user@host:port`), unconnected. */
export function ftpAccountId(params: FtpParams): string {
  return new FtpConnection(ftpEndpoint(params)).id;
}

/** The FTP account a step's params name, opened lazily on first use. */
export function ftpFolder(params: FtpParams): RemoteFolder {
  const connection = new FtpConnection(ftpEndpoint(params));
  return {
    io: 'IDX_FTP_IO',
    source: (root, moveTo) => new FtpFileSource(connection, root, moveTo),
    target: () => new FtpFileTarget(connection),
    // Paths are written relative to the login folder; the job record names them absolutely.
    locate: async (path) => `${connection.id}/${(await connection.absolute(path)).replace(/^\//, '')}`,
    close: () => connection.close(),
  };
}
