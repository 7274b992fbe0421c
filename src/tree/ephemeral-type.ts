/**
 * EphemeralType: what a znode's ephemeralOwner field encodes. 0 is a persistent
 * node, Long.MIN_VALUE a container, 0xFF00.. | ttl a TTL node (when extended types
 * are enabled), anything else the owning session.
 */

export type EphemeralKind = "persistent" | "session" | "container" | "ttl";

/** EphemeralType.CONTAINER_EPHEMERAL_OWNER. */
export const containerOwner = -(2n ** 63n);
const extendedMask = -(2n ** 56n); // 0xff00000000000000 as a signed long
const reservedBitsMask = 0x00ff_ff00_0000_0000n;
/** The largest TTL in milliseconds (EphemeralType.TTL.maxValue()). */
export const ttlMaxMs = 0xff_ffff_ffffn;

export function ephemeralKind(owner: bigint, extendedTypesEnabled: boolean): EphemeralKind {
  if (extendedTypesEnabled && (owner & extendedMask) === extendedMask) {
    // Only the TTL feature bit (0) exists; ZooKeeper rejects others as invalid.
    return (owner & reservedBitsMask) === 0n ? "ttl" : "session";
  }
  if (owner === containerOwner) return "container";
  return owner === 0n ? "persistent" : "session";
}

/** EphemeralType.TTL.toEphemeralOwner. */
export function ttlOwner(ttl: bigint): bigint {
  return extendedMask | ttl;
}

/** The TTL of a TTL node's owner field. */
export function ttlOf(owner: bigint): bigint {
  return owner & ~(extendedMask | reservedBitsMask);
}
