/** Promise wrappers over node-zookeeper-client, a ZooKeeper client written by others. */
import zookeeper from "node-zookeeper-client";

export type NzkClient = ReturnType<typeof zookeeper.createClient>;

/** Connects and resolves once the session is established (rejects after `timeoutMs`). */
export function connectNzk(connectString: string, timeoutMs = 10_000): Promise<NzkClient> {
  const client = zookeeper.createClient(connectString, {
    sessionTimeout: 10_000,
    spinDelay: 100,
    retries: 3,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`node-zookeeper-client: no session within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once("connected", () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

export function nzkCreate(client: NzkClient, path: string, data: Buffer | null, mode = 0): Promise<string> {
  return new Promise((resolve, reject) =>
    client.create(path, data, zookeeper.ACL.OPEN_ACL_UNSAFE, mode, (error, created) =>
      error ? reject(error) : resolve(created),
    ),
  );
}

export function nzkGetData(
  client: NzkClient,
  path: string,
): Promise<{ data: Buffer | null; version: number }> {
  return new Promise((resolve, reject) =>
    client.getData(path, undefined, (error, data, stat) =>
      error ? reject(error) : resolve({ data, version: stat.version }),
    ),
  );
}

export function nzkClose(client: NzkClient): Promise<void> {
  return new Promise((resolve) => {
    client.once("disconnected", () => resolve());
    client.close();
  });
}
