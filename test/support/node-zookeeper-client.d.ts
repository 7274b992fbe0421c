// Minimal typings for the parts of node-zookeeper-client (npm) the tests use.
declare module "node-zookeeper-client" {
  type Callback<T> = (error: (Error & { code?: number; getCode?: () => number }) | null, result: T) => void;
  interface Stat {
    version: number;
    cversion: number;
    aversion: number;
    dataLength: number;
    numChildren: number;
  }
  interface Event {
    type: number;
    name: string;
    path: string;
    getType(): number;
    getPath(): string;
  }
  interface Client {
    connect(): void;
    close(): void;
    once(event: "connected" | "disconnected" | "expired", listener: () => void): void;
    on(event: string, listener: (...args: unknown[]) => void): void;
    getSessionId(): Buffer;
    addAuthInfo(scheme: string, auth: Buffer): void;
    create(path: string, data: Buffer | null, acls: unknown, mode: number, callback: Callback<string>): void;
    create(path: string, data: Buffer | null, mode: number, callback: Callback<string>): void;
    create(path: string, callback: Callback<string>): void;
    remove(path: string, version: number, callback: (error: Error | null) => void): void;
    setData(path: string, data: Buffer | null, version: number, callback: Callback<Stat>): void;
    getData(
      path: string,
      watcher: ((event: Event) => void) | undefined,
      callback: (error: Error | null, data: Buffer | null, stat: Stat) => void,
    ): void;
    exists(
      path: string,
      watcher: ((event: Event) => void) | undefined,
      callback: Callback<Stat | null>,
    ): void;
    getChildren(
      path: string,
      watcher: ((event: Event) => void) | undefined,
      callback: (error: Error | null, children: string[], stat: Stat) => void,
    ): void;
    getACL(path: string, callback: (error: Error | null, acls: unknown[], stat: Stat) => void): void;
    setACL(path: string, acls: unknown[], version: number, callback: Callback<Stat>): void;
    transaction(): Transaction;
    mkdirp(path: string, callback: Callback<string>): void;
  }
  interface Transaction {
    create(path: string, data?: Buffer | null, acls?: unknown, mode?: number): Transaction;
    setData(path: string, data: Buffer | null, version?: number): Transaction;
    check(path: string, version?: number): Transaction;
    remove(path: string, version?: number): Transaction;
    commit(callback: (error: Error | null, results: unknown[]) => void): void;
  }
  export function createClient(
    connectString: string,
    options?: { sessionTimeout?: number; spinDelay?: number; retries?: number },
  ): Client;
  export const CreateMode: {
    PERSISTENT: number;
    PERSISTENT_SEQUENTIAL: number;
    EPHEMERAL: number;
    EPHEMERAL_SEQUENTIAL: number;
  };
  export const Event: {
    NODE_CREATED: number;
    NODE_DELETED: number;
    NODE_DATA_CHANGED: number;
    NODE_CHILDREN_CHANGED: number;
  };
  export const Exception: {
    NO_NODE: number;
    NODE_EXISTS: number;
    BAD_VERSION: number;
    NOT_EMPTY: number;
    NO_AUTH: number;
  };
  export class ACL {
    constructor(permission: number, id: Id);
    static OPEN_ACL_UNSAFE: ACL[];
  }
  export const Permission: { ALL: number; READ: number };
  export class Id {
    constructor(scheme: string, id: string);
  }
  const zookeeper: {
    createClient: typeof createClient;
    CreateMode: typeof CreateMode;
    Event: typeof Event;
    Exception: typeof Exception;
    ACL: typeof ACL;
    Permission: typeof Permission;
    Id: typeof Id;
  };
  export default zookeeper;
}
