/**
 * One idempotency key per attempt at an adjustment. Sending the same request again (a double click,
 * a retry after the network failed) reuses the key, so the server applies it once; once the server
 * has answered, or the request itself changed, the next attempt is a new one with a new key.
 */
export class AttemptKeys {
  private current: { request: string; key: string } | null = null;
  private readonly newKey: () => string;

  constructor(newKey: () => string = () => crypto.randomUUID()) {
    this.newKey = newKey;
  }

  /** The key for sending `request` (any string that identifies its input) now. */
  keyFor(request: string): string {
    if (this.current?.request !== request) this.current = { request, key: this.newKey() };
    return this.current.key;
  }

  /** The server answered (applied it, or refused it): the next attempt is a new one. */
  answered(): void {
    this.current = null;
  }
}
