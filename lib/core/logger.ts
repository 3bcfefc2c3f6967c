/**
 * The logger every layer writes through: a step's trace, a connector's warnings. Protocol clients take one of
 * these rather than a script context, so they stay usable outside a step.
 */

/** Where log lines go; `data` is structured detail kept beside the message. */
export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}
