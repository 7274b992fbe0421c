import { errorName } from "./constants.js";

/** A failure that the client sees as one of ZooKeeper's error codes. */
export class KeeperError extends Error {
  override name = "KeeperError";
  constructor(
    readonly code: number,
    readonly path?: string,
  ) {
    super(path === undefined ? errorName(code) : `${errorName(code)} for ${path}`);
  }

  /** The code's name, e.g. "NONODE". */
  get codeName(): string {
    return errorName(this.code);
  }
}
