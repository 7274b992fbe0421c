/** The zkts client library. */
export {
  AddWatchMode,
  CreateMode,
  ErrorCode,
  EventType,
  errorName,
  KeeperState,
  OpCode,
  Perms,
  WatcherType,
} from "../jute/constants.js";
export { KeeperError } from "../jute/keeper-error.js";
export type { MultiOp, MultiResult } from "../jute/multi.js";
export type { ConnectionState } from "./connection.js";
export {
  type ACL,
  type ClientOptions,
  type CreateOptions,
  MultiError,
  openAclUnsafe,
  parseConnectString,
  type Stat,
  type WatchedEvent,
  type Watcher,
  ZooKeeperClient,
} from "./zookeeper-client.js";
