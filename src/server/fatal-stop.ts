/**
 * How a server stops after an error that leaves nothing safe to do (its txn log failed a
 * write): it closes, then tells its owner, which for `zkts server` exits with status 1 as
 * ZooKeeper does. Closing may hang (a client that does not read its replies, say), so the
 * owner hears of it after fatalCloseTimeoutMs at the latest: a failed server must not linger.
 */

/** How long closing may take before the owner is told all the same. */
export const fatalCloseTimeoutMs = 10_000;

/** `value` as an Error (a rejection may carry anything). */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Closes with `close`, then calls `onFatal(error)` once, after fatalCloseTimeoutMs at the latest. */
export function closeThenReport(
  close: () => Promise<void>,
  error: Error,
  onFatal: (error: Error) => void,
): void {
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    clearTimeout(timer);
    onFatal(error);
  };
  const timer = setTimeout(report, fatalCloseTimeoutMs);
  close().then(report, report);
}
