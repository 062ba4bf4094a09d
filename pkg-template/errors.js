/**
 * Every failure in ibkr-auth is an IbkrAuthError: `code` is stable (see ERROR_CODES), `message`
 * names the cause and the fix and never contains a secret; failures that came from HTTP also carry
 * `status` and the server's own `serverMessage`.
 */
export const ERROR_CODES = Object.freeze([
  'INVALID_ARGUMENT', 'INVALID_KEY', 'INVALID_DH_PARAMS', 'INVALID_ACCESS_TOKEN_SECRET',
  'DECRYPT_FAILED', 'BAD_DH_RESPONSE', 'LST_SIGNATURE_MISMATCH', 'UNAUTHORIZED', 'NO_BRIDGE',
  'GONE', 'RATE_LIMITED', 'TIMEOUT', 'NETWORK', 'HTTP_ERROR', 'CLOCK_SKEW', 'INTERNAL', 'ABORTED',
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
