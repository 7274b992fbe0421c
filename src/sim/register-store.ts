/**
 * The simulated server's storage and state machine: a disk holding epochs, a snapshot and
 * a txn log, and a register per key as the applied state. Used by the simulator and the
 * ZAB transcript tests, so both boot, persist, apply and reload exactly alike.
 */
import type { ApplyOp, DurableState, PersistOp, Proposal } from "../zab/zab-types.js";

export interface RegisterWrite {
  /** Unique per write in a run. */
  id: number;
  key: string;
  value: string;
}

/** The applied state: the register values and every txn id applied, in order. */
export interface RegisterState {
  zxid: bigint;
  values: ReadonlyMap<string, string>;
  applied: readonly number[];
}

export interface MutableRegisterState {
  zxid: bigint;
  values: Map<string, string>;
  applied: number[];
}

/** What survives a crash: only what a finished persist wrote. */
export interface SimDisk {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  snapshot: RegisterState;
  log: Proposal<RegisterWrite>[];
}

export function emptyDisk(): SimDisk {
  return {
    acceptedEpoch: 0n,
    currentEpoch: 0n,
    snapshot: { zxid: 0n, values: new Map(), applied: [] },
    log: [],
  };
}

/** Whether a disk holds the txn `zxid`: in its snapshot or in its log. */
export function diskHolds(disk: SimDisk, zxid: bigint): boolean {
  if (disk.snapshot.zxid >= zxid) return true;
  for (let i = disk.log.length - 1; i >= 0; i--) {
    const logged = disk.log[i]!.zxid;
    if (logged === zxid) return true;
    if (logged < zxid) return false;
  }
  return false;
}

export function copyState(state: RegisterState): MutableRegisterState {
  return { zxid: state.zxid, values: new Map(state.values), applied: [...state.applied] };
}

export function applyWrite(state: MutableRegisterState, proposal: Proposal<RegisterWrite>): void {
  state.values.set(proposal.txn.key, proposal.txn.value);
  state.applied.push(proposal.txn.id);
  state.zxid = proposal.zxid;
}

/** The state rebuilt from disk: the snapshot, then the log up to `zxid` (all of it by default). */
export function stateFromDisk(disk: SimDisk, zxid?: bigint): MutableRegisterState {
  const state = copyState(disk.snapshot);
  for (const proposal of disk.log) {
    if (proposal.zxid > state.zxid && (zxid === undefined || proposal.zxid <= zxid))
      applyWrite(state, proposal);
  }
  return state;
}

/** What a peer boots with: the state from disk (every logged txn, as the server does) and the newest `keep` + 1 proposals. */
export function bootFromDisk(
  disk: SimDisk,
  keep: number,
): { state: MutableRegisterState; durable: DurableState<RegisterWrite> } {
  const state = stateFromDisk(disk);
  const tail = disk.log.filter((p) => p.zxid > disk.snapshot.zxid);
  const recent = tail.slice(Math.max(0, tail.length - keep - 1));
  const dropped = tail.length - recent.length;
  const recentBase = dropped > 0 ? (tail[dropped - 1]?.zxid ?? disk.snapshot.zxid) : disk.snapshot.zxid;
  return {
    state,
    durable: {
      acceptedEpoch: disk.acceptedEpoch,
      currentEpoch: disk.currentEpoch,
      appliedZxid: state.zxid,
      recentBase,
      recent,
    },
  };
}

export class DiskError extends Error {
  override name = "DiskError";
}

/** Carries out one durable write. */
export function persistToDisk(disk: SimDisk, op: PersistOp<RegisterWrite, RegisterState>): void {
  switch (op.type) {
    case "acceptedEpoch":
      disk.acceptedEpoch = op.epoch;
      return;
    case "currentEpoch":
      disk.currentEpoch = op.epoch;
      return;
    case "append":
      disk.log.push(...op.proposals);
      return;
    case "truncate":
      if (op.zxid < disk.snapshot.zxid) {
        throw new DiskError(
          `told to truncate to 0x${op.zxid.toString(16)}, below the snapshot at 0x${disk.snapshot.zxid.toString(16)}`,
        );
      }
      disk.log = disk.log.filter((p) => p.zxid <= op.zxid);
      return;
    case "snapshot":
      disk.snapshot = op.snapshot;
      disk.log = [];
      return;
  }
}

/** Carries out one change to the applied state; returns the new state. */
export function applyToState(
  disk: SimDisk,
  state: MutableRegisterState,
  op: ApplyOp<RegisterWrite, RegisterState>,
): MutableRegisterState {
  switch (op.type) {
    case "txn":
      applyWrite(state, op.proposal);
      return state;
    case "snapshot":
      return copyState(op.snapshot);
    case "reload":
      return stateFromDisk(disk, op.zxid);
  }
}
