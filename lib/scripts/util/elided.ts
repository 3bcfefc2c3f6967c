/**
 * A param value that is not set: empty, or elided as the published templates write it (`...`). Platform steps
 * treat such an endpoint as "the embedded emulator" in local mode and as missing anywhere else.
 */
export const UNSET = /^\s*\.*\s*$/;
