/**
 * Sessions with ZooKeeper's SessionTrackerImpl and ExpiryQueue semantics: expiry
 * times rounded up to the next tick, sessions expiring a whole bucket at a time.
 * Pure: every method that needs the time is given it.
 */

/** SessionTrackerImpl.initializeNextSessionId: server id in the top byte, time below. */
export function initialSessionId(serverId: number, nowMs: number): bigint {
  let next = BigInt.asUintN(64, BigInt(Math.floor(nowMs)) << 24n) >> 8n;
  next = BigInt.asIntN(64, next | (BigInt(serverId) << 56n));
  if (next === -(2n ** 63n)) next++; // would read as a container owner
  return next;
}

const superSecret = 0xb3415c00n;
const randomMultiplier = 0x5deece66dn;
const randomMask = (1n << 48n) - 1n;

/** java.util.Random, exactly, for the bytes ZooKeeper derives from a seed. */
class JavaRandom {
  private seed: bigint;
  constructor(seed: bigint) {
    this.seed = (BigInt.asUintN(64, seed) ^ randomMultiplier) & randomMask;
  }
  private next(bits: number): number {
    this.seed = (this.seed * randomMultiplier + 0xbn) & randomMask;
    return Number(BigInt.asIntN(32, this.seed >> BigInt(48 - bits)));
  }
  nextBytes(bytes: Buffer): void {
    for (let i = 0; i < bytes.length; ) {
      let random = this.next(32);
      for (let n = Math.min(bytes.length - i, 4); n-- > 0; random >>= 8) bytes[i++] = random & 0xff;
    }
  }
}

/** ZooKeeperServer.generatePasswd: 16 bytes from java.util.Random(sessionId ^ superSecret). */
export function generatePassword(sessionId: bigint): Buffer {
  const password = Buffer.alloc(16);
  new JavaRandom(sessionId ^ superSecret).nextBytes(password);
  return password;
}

interface Session {
  timeoutMs: number;
  expiresAtMs: number;
  closing: boolean;
}

export interface SessionTrackerOptions {
  tickMs: number;
  serverId: number;
  nowMs: number;
}

export class SessionTracker {
  private readonly tickMs: number;
  private readonly byId = new Map<bigint, Session>();
  private readonly buckets = new Map<number, Set<bigint>>();
  private nextId: bigint;
  private nextExpirationMs: number;

  constructor(options: SessionTrackerOptions) {
    this.tickMs = options.tickMs;
    this.nextId = initialSessionId(options.serverId, options.nowMs);
    this.nextExpirationMs = this.roundToNextTick(options.nowMs);
  }

  /** ExpiryQueue.roundToNextInterval. */
  private roundToNextTick(timeMs: number): number {
    return (Math.floor(timeMs / this.tickMs) + 1) * this.tickMs;
  }

  nextSessionId(): bigint {
    const id = this.nextId;
    this.nextId = BigInt.asIntN(64, this.nextId + 1n);
    return id;
  }

  private schedule(sessionId: bigint, session: Session, deadlineMs: number): void {
    const expiresAtMs = this.roundToNextTick(deadlineMs);
    if (expiresAtMs === session.expiresAtMs) return;
    this.buckets.get(session.expiresAtMs)?.delete(sessionId);
    session.expiresAtMs = expiresAtMs;
    let bucket = this.buckets.get(expiresAtMs);
    if (bucket === undefined) this.buckets.set(expiresAtMs, (bucket = new Set()));
    bucket.add(sessionId);
  }

  /** Tracks a session (new, or loaded from disk) with `timeoutMs`. */
  add(sessionId: bigint, timeoutMs: number, nowMs: number): void {
    const session: Session = { timeoutMs, expiresAtMs: 0, closing: false };
    this.byId.set(sessionId, session);
    this.schedule(sessionId, session, nowMs + timeoutMs);
  }

  /**
   * Pushes the session's expiry to `timeoutMs` from now (the connection's negotiated
   * timeout, as SessionTrackerImpl.touchSession); false when unknown or closing.
   */
  touch(sessionId: bigint, timeoutMs: number, nowMs: number): boolean {
    const session = this.byId.get(sessionId);
    if (session === undefined || session.closing) return false;
    this.schedule(sessionId, session, nowMs + timeoutMs);
    return true;
  }

  setClosing(sessionId: bigint): void {
    const session = this.byId.get(sessionId);
    if (session !== undefined) session.closing = true;
  }

  isClosing(sessionId: bigint): boolean {
    return this.byId.get(sessionId)?.closing ?? false;
  }

  has(sessionId: bigint): boolean {
    return this.byId.has(sessionId);
  }

  timeoutOf(sessionId: bigint): number | undefined {
    return this.byId.get(sessionId)?.timeoutMs;
  }

  remove(sessionId: bigint): void {
    const session = this.byId.get(sessionId);
    if (session === undefined) return;
    this.byId.delete(sessionId);
    this.buckets.get(session.expiresAtMs)?.delete(sessionId);
  }

  /** Sessions whose bucket time has passed, marked closing (ExpiryQueue.poll, repeated). */
  expired(nowMs: number): bigint[] {
    const expired: bigint[] = [];
    while (nowMs >= this.nextExpirationMs) {
      const bucket = this.buckets.get(this.nextExpirationMs);
      this.buckets.delete(this.nextExpirationMs);
      this.nextExpirationMs += this.tickMs;
      if (bucket === undefined) continue;
      for (const sessionId of bucket) {
        const session = this.byId.get(sessionId);
        if (session === undefined || session.closing) continue;
        session.closing = true;
        expired.push(sessionId);
      }
    }
    return expired;
  }

  /** When the earliest bucket with a session in it expires, if any. */
  nextExpiryMs(): number | undefined {
    let earliest: number | undefined;
    for (const [time, bucket] of this.buckets) {
      if (bucket.size > 0 && (earliest === undefined || time < earliest)) earliest = time;
    }
    return earliest;
  }

  /** Every session and its timeout. */
  sessions(): Map<bigint, number> {
    const result = new Map<bigint, number>();
    for (const [id, session] of this.byId) result.set(id, session.timeoutMs);
    return result;
  }
}
