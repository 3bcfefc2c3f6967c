/**
 * The SFTP account of a step: its endpoint from the step's params, with local mode's policy (an empty host means
 * the embedded server, with its pinned host key and, for an empty login, the local one), as a
 * {@link RemoteFolder} for the shared folder reader and writer.
 */
import { SftpConnection, type SftpEndpoint, SftpFileSource, SftpFileTarget } from '../../connectors/sftp.ts';
import { LOCAL_SFTP_PASSWORD, LOCAL_SFTP_USERNAME } from '../../connectors/ssh-basics.ts';
import { IdxError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { ScriptContext } from '../../core/script.ts';
import type { RuntimeConfig } from '../../core/services.ts';
import type { sftpConnectionParams } from './file-transfer.ts';
import type { RemoteFolder } from './remote-files.ts';

/** The connection params of the SFTP steps, as resolved. */
export type SftpParams = ParamsOf<typeof sftpConnectionParams>;

/** A private key given as text or as base64 of the text (the form console schemas use). */
export function decodePrivateKey(value: string): string {
  const v = value.trim();
  if (v.includes('-----BEGIN') || v.includes('PuTTY-User-Key-File')) return v;
  const decoded = Buffer.from(v, 'base64').toString('utf8');
  return decoded.includes('-----BEGIN') ? decoded : v;
}

/**
 * The endpoint of a step. An empty host in local mode means the embedded server, with its pinned host key and
 * the local login for empty credentials; an empty host anywhere else is an error.
 */
export function resolveSftpEndpoint(params: SftpParams, config: RuntimeConfig, stepId: string): SftpEndpoint {
  const host = params.host.trim();
  const local = config.local ? config.endpoints.sftp : undefined;
  const blank = (v: string | undefined) => (v?.trim() ? v : undefined);
  if (!host) {
    if (!local) {
      throw new IdxError('IDX_PARAM_MISSING', 'host is empty', {
        stepId,
        param: 'host',
        expected: 'the SFTP server name (an empty host only means the embedded server in local mode)',
        received: '""',
      });
    }
    const useLocalLogin = !blank(params.username);
    const fingerprint = blank(params.hostKeyFingerprint) ?? local.hostKeyFingerprint;
    return {
      host: local.host,
      port: local.port,
      username: useLocalLogin ? LOCAL_SFTP_USERNAME : params.username,
      ...(useLocalLogin ? { password: LOCAL_SFTP_PASSWORD } : credentials(params)),
      ...(fingerprint ? { hostKeyFingerprint: fingerprint } : {}),
      timeoutMs: params.timeout * 1000,
      ...(local.label ? { label: local.label } : {}),
    };
  }
  const fingerprint = blank(params.hostKeyFingerprint);
  return {
    host,
    port: params.port,
    username: params.username,
    ...credentials(params),
    ...(fingerprint ? { hostKeyFingerprint: fingerprint } : {}),
    timeoutMs: params.timeout * 1000,
  };
}

function credentials(params: SftpParams): { password?: string; privateKey?: string; passphrase?: string } {
  return {
    ...(params.password ? { password: params.password } : {}),
    ...(params.privateKey?.trim() ? { privateKey: decodePrivateKey(params.privateKey) } : {}),
    ...(params.passphrase ? { passphrase: params.passphrase } : {}),
  };
}

/** The account a step's params name, as its readers and writers name it (`sftp://user@host:port`), unconnected. */
export function sftpAccountId(params: SftpParams, ctx: ScriptContext): string {
  return new SftpConnection(resolveSftpEndpoint(params, ctx.services.config, ctx.stepId), ctx.log).id;
}

/** The SFTP account a step's params name, opened lazily on first use. */
export function sftpFolder(params: SftpParams, ctx: ScriptContext): RemoteFolder {
  const connection = new SftpConnection(resolveSftpEndpoint(params, ctx.services.config, ctx.stepId), ctx.log);
  return {
    io: 'IDX_SFTP_IO',
    source: (root, moveTo) => new SftpFileSource(connection, root, moveTo),
    target: () => new SftpFileTarget(connection),
    locate: (path) => `${connection.id}/${path.replace(/^\//, '')}`,
    close: () => connection.close(),
  };
}
