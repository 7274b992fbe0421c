/**
 * Authentication schemes and ACL checks as Apache ZooKeeper 3.8's ProviderRegistry
 * holds them: `ip` and `digest` are providers; `world:anyone` and `super` are special
 * cases of the check itself; `auth` is expanded by fixupACL.
 */
import { createHash } from "node:crypto";
import { ErrorCode } from "../jute/constants.js";
import { KeeperError } from "../jute/keeper-error.js";
import type { ACL, Id } from "../jute/records.js";
import { javaStringHash } from "../tree/java-hash-set.js";

/** Java's String.split(regex) for a literal separator: trailing empty strings are dropped. */
export function javaSplit(value: string, separator: string, limit = 0): string[] {
  let parts: string[];
  if (limit > 0) {
    parts = [];
    let rest = value;
    while (parts.length < limit - 1) {
      const at = rest.indexOf(separator);
      if (at === -1) break;
      parts.push(rest.slice(0, at));
      rest = rest.slice(at + separator.length);
    }
    parts.push(rest);
    return parts;
  }
  parts = value.split(separator);
  while (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  if (parts.length === 1 && parts[0] === "" && value.length > 0) return [];
  return parts;
}

/** DigestAuthenticationProvider.generateDigest: "user:" + base64(sha1("user:password")). */
export function generateDigest(idPassword: string): string {
  const user = javaSplit(idPassword, ":", 2)[0] ?? "";
  const digest = createHash("sha1").update(idPassword, "utf8").digest("base64");
  return `${user}:${digest}`;
}

function ipv4Bytes(address: string): number[] | null {
  const parts = address.split(".");
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^[+-]?\d+$/.test(part)) return null;
    const value = Number.parseInt(part, 10);
    if (value < 0 || value > 255) return null;
    bytes.push(value);
  }
  return bytes;
}

function maskBytes(bytes: number[], bits: number): void {
  let start = Math.floor(bits / 8);
  let startMask = ~((1 << (8 - (bits % 8))) - 1) & 0xff;
  while (start < bytes.length) {
    bytes[start] = bytes[start]! & startMask;
    startMask = 0;
    start++;
  }
}

function parseBits(text: string, max: number): number | null {
  if (!/^[+-]?\d+$/.test(text)) return null;
  const bits = Number.parseInt(text, 10);
  return bits < 0 || bits > max ? null : bits;
}

/** IPAuthenticationProvider.matches: `aclExpr` is an IPv4 address with an optional /bits. */
export function ipMatches(id: string, aclExpr: string): boolean {
  const parts = javaSplit(aclExpr, "/", 2);
  const aclAddress = ipv4Bytes(parts[0] ?? "");
  if (aclAddress === null) return false;
  let bits = 32;
  if (parts.length === 2) {
    const parsed = parseBits(parts[1]!, 32);
    if (parsed === null) return false;
    bits = parsed;
  }
  maskBytes(aclAddress, bits);
  const remote = ipv4Bytes(id);
  if (remote === null) return false;
  maskBytes(remote, bits);
  return remote.every((byte, index) => byte === aclAddress[index]);
}

/** A scheme that ZooKeeper's ProviderRegistry knows. */
interface AuthenticationProvider {
  /** Whether an id of this scheme stands for an authenticated user (used to expand `auth`). */
  isAuthenticated: boolean;
  isValid(id: string): boolean;
  matches(id: string, aclExpr: string): boolean;
  userName(id: string): string;
}

const providers = new Map<string, AuthenticationProvider>([
  [
    "ip",
    {
      isAuthenticated: false,
      isValid(id) {
        const parts = javaSplit(id, "/", 2);
        if (ipv4Bytes(parts[0] ?? "") === null) return false;
        return parts.length !== 2 || parseBits(parts[1]!, 32) !== null;
      },
      matches: ipMatches,
      userName: (id) => id,
    },
  ],
  [
    "digest",
    {
      isAuthenticated: true,
      isValid: (id) => javaSplit(id, ":").length === 2,
      matches: (id, aclExpr) => id === aclExpr,
      userName: (id) => javaSplit(id, ":")[0] ?? "",
    },
  ],
]);

/** Whether `scheme` has a provider (world and super do not). */
export function isKnownScheme(scheme: string): boolean {
  return providers.has(scheme);
}

/** The auth schemes a client may send in an auth packet, and what each adds to the connection. */
export interface AuthOutcome {
  ok: boolean;
  ids: Id[];
}

/**
 * Handles an auth packet (ZooKeeperServer.processPacket for OpCode.auth).
 * @param remoteAddress the client's IP, used by the `ip` scheme
 * @param superDigest zookeeper.DigestAuthenticationProvider.superDigest, if set
 */
export function authenticate(
  scheme: string,
  auth: Buffer | null,
  remoteAddress: string,
  superDigest: string | undefined,
): AuthOutcome {
  if (scheme === "digest") {
    const digest = generateDigest((auth ?? Buffer.alloc(0)).toString("utf8"));
    const ids: Id[] = [];
    if (superDigest !== undefined && digest === superDigest) ids.push({ scheme: "super", id: "" });
    ids.push({ scheme: "digest", id: digest });
    return { ok: true, ids };
  }
  if (scheme === "ip") return { ok: true, ids: [{ scheme: "ip", id: remoteAddress }] };
  return { ok: false, ids: [] };
}

/** ZooKeeperServer.checkACL: throws NOAUTH unless one of `ids` grants `perm` under `acl`. */
export function checkACL(acl: readonly ACL[], perm: number, ids: readonly Id[], skipACL = false): void {
  if (skipACL || acl.length === 0) return;
  for (const authId of ids) if (authId.scheme === "super") return;
  for (const entry of acl) {
    if ((entry.perms & perm) === 0) continue;
    const { scheme, id } = entry.id;
    if (scheme === "world" && id === "anyone") return;
    const provider = providers.get(scheme);
    if (provider === undefined) continue;
    for (const authId of ids) {
      if (authId.scheme === scheme && provider.matches(authId.id, id)) return;
    }
  }
  throw new KeeperError(ErrorCode.NOAUTH);
}

function sameACL(a: ACL, b: ACL): boolean {
  return a.perms === b.perms && a.id.scheme === b.id.scheme && a.id.id === b.id.id;
}

/**
 * PrepRequestProcessor.fixupACL: removes duplicates, expands `auth` to the caller's
 * authenticated ids, and rejects ids no provider accepts (INVALIDACL).
 */
export function fixupACL(acl: readonly ACL[], authInfo: readonly Id[]): ACL[] {
  const unique: ACL[] = [];
  for (const entry of acl) if (!unique.some((seen) => sameACL(seen, entry))) unique.push(entry);
  if (unique.length === 0) throw new KeeperError(ErrorCode.INVALIDACL);
  const result: ACL[] = [];
  for (const entry of unique) {
    const { scheme, id } = entry.id;
    if (scheme === "world" && id === "anyone") {
      result.push(entry);
    } else if (scheme === "auth") {
      let valid = false;
      for (const authId of authInfo) {
        const provider = providers.get(authId.scheme);
        if (provider?.isAuthenticated) {
          valid = true;
          result.push({ perms: entry.perms, id: authId });
        }
      }
      if (!valid) throw new KeeperError(ErrorCode.INVALIDACL);
    } else {
      const provider = providers.get(scheme);
      if (provider === undefined || !provider.isValid(id)) throw new KeeperError(ErrorCode.INVALIDACL);
      result.push(entry);
    }
  }
  return result;
}

/** AuthUtil.getClientInfos: the (scheme, user) pairs whoAmI reports. */
export function clientInfos(authInfo: readonly Id[]): { authScheme: string; user: string }[] {
  return authInfo.map((id) => ({
    authScheme: id.scheme,
    user: providers.get(id.scheme)?.userName(id.id) ?? "",
  }));
}

/** The jute-generated Id.hashCode. */
function idHash(id: Id): number {
  let result = 17;
  result = (Math.imul(37, result) + javaStringHash(id.scheme)) | 0;
  result = (Math.imul(37, result) + javaStringHash(id.id)) | 0;
  return result;
}

/**
 * Orders a connection's auth ids as ZooKeeper's ServerCnxn iterates them: they live
 * in a ConcurrentHashMap-backed set, so whoAmI and `auth` ACL expansion see them in
 * hash-bin order (insertion order within a bin).
 */
export function orderAuthInfo(ids: Id[]): Id[] {
  let capacity = 16;
  while (ids.length > capacity * 0.75) capacity *= 2;
  const bin = (id: Id) => {
    const h = idHash(id);
    return (h ^ (h >>> 16)) & 0x7fffffff & (capacity - 1);
  };
  return ids
    .map((id, index) => ({ id, index, bin: bin(id) }))
    .sort((a, b) => a.bin - b.bin || a.index - b.index)
    .map((entry) => entry.id);
}
