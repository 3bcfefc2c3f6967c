/**
 * What both ends of an SSH connection here need, kept apart from the SFTP connector (sftp.ts) so that the embedded
 * SFTP server loads it without the connector's modules: the server runs in the local service thread
 * (lib/local/service-thread.ts), whose heap should hold the servers and little else.
 */
import { createHash } from 'node:crypto';

/**
 * Turns off Nagle's algorithm on an SSH socket. Without ssh2's optional native add-on (never present in Lambda)
 * a packet leaves in several small writes; with Nagle on, each waits for the peer's delayed ACK, about 40 ms per
 * packet, which made 20 MB take a minute instead of a second.
 */
export function noDelay(socket: { setNoDelay?: (on: boolean) => unknown } | undefined): void {
  socket?.setNoDelay?.(true);
}

/** The OpenSSH-style fingerprint of a host key blob: `SHA256:<base64 without padding>`. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The login of the embedded SFTP server, used by steps whose host is empty in local mode. */
export const LOCAL_SFTP_USERNAME = 'idx';
/** The password of {@link LOCAL_SFTP_USERNAME} (a local stand-in, not a secret). */
export const LOCAL_SFTP_PASSWORD = 'idx';
