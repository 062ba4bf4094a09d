/**
 * Every failure in ibkr-auth is an IbkrAuthError: `code` is stable (see ERROR_CODES), `message`
 * names the cause and the fix and never contains a secret; failures that came from HTTP also carry
 * `status` and the server's own `serverMessage`.
 */
export const ERROR_CODES = Object.freeze([
  /* ERROR_CODES: written here by scripts/build-pkg.mjs from the Rust ErrorCode enum's codes */
]);

export class IbkrAuthError extends Error {
  /**
   * @param {string} code one of ERROR_CODES
   * @param {string} message cause and fix
   * @param {{ status?: number, serverMessage?: string, cause?: unknown }} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'IbkrAuthError';
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.serverMessage !== undefined) this.serverMessage = details.serverMessage;
  }
}
