/**
 * Txns as ZooKeeper logs them: a TxnHeader whose `type` is an OpCode, then the txn
 * record for that type. A multi's ops are nested Txn records (type + bytes).
 */
import { JuteDecodeError, JuteReader, JuteWriter } from "./binary.js";
import { OpCode } from "./constants.js";
import {
  CheckVersionTxn,
  type CheckVersionTxn as CheckVersionTxnT,
  CloseSessionTxn,
  type CloseSessionTxn as CloseSessionTxnT,
  CreateContainerTxn,
  type CreateContainerTxn as CreateContainerTxnT,
  CreateSessionTxn,
  type CreateSessionTxn as CreateSessionTxnT,
  CreateTTLTxn,
  type CreateTTLTxn as CreateTTLTxnT,
  CreateTxn,
  type CreateTxn as CreateTxnT,
  DeleteTxn,
  type DeleteTxn as DeleteTxnT,
  ErrorTxn,
  type ErrorTxn as ErrorTxnT,
  MultiTxn,
  SetACLTxn,
  type SetACLTxn as SetACLTxnT,
  SetDataTxn,
  type SetDataTxn as SetDataTxnT,
} from "./records.js";

/** A decoded txn body, tagged by the OpCode that ZooKeeper writes in TxnHeader.type. */
export type Txn =
  | { type: typeof OpCode.create; txn: CreateTxnT }
  | { type: typeof OpCode.create2; txn: CreateTxnT }
  | { type: typeof OpCode.createTTL; txn: CreateTTLTxnT }
  | { type: typeof OpCode.createContainer; txn: CreateContainerTxnT }
  | { type: typeof OpCode.delete; txn: DeleteTxnT }
  | { type: typeof OpCode.deleteContainer; txn: DeleteTxnT }
  | { type: typeof OpCode.setData; txn: SetDataTxnT }
  | { type: typeof OpCode.setACL; txn: SetACLTxnT }
  | { type: typeof OpCode.check; txn: CheckVersionTxnT }
  | { type: typeof OpCode.createSession; txn: CreateSessionTxnT }
  | { type: typeof OpCode.closeSession; txn: CloseSessionTxnT | null }
  | { type: typeof OpCode.error; txn: ErrorTxnT }
  | { type: typeof OpCode.multi; txns: Txn[] };

/** Writes a txn body (without its TxnHeader). */
export function writeTxn(w: JuteWriter, txn: Txn): void {
  switch (txn.type) {
    case OpCode.create:
    case OpCode.create2:
      CreateTxn.write(w, txn.txn);
      return;
    case OpCode.createTTL:
      CreateTTLTxn.write(w, txn.txn);
      return;
    case OpCode.createContainer:
      CreateContainerTxn.write(w, txn.txn);
      return;
    case OpCode.delete:
    case OpCode.deleteContainer:
      DeleteTxn.write(w, txn.txn);
      return;
    case OpCode.setData:
      SetDataTxn.write(w, txn.txn);
      return;
    case OpCode.setACL:
      SetACLTxn.write(w, txn.txn);
      return;
    case OpCode.check:
      CheckVersionTxn.write(w, txn.txn);
      return;
    case OpCode.createSession:
      CreateSessionTxn.write(w, txn.txn);
      return;
    case OpCode.closeSession:
      if (txn.txn !== null) CloseSessionTxn.write(w, txn.txn);
      return;
    case OpCode.error:
      ErrorTxn.write(w, txn.txn);
      return;
    case OpCode.multi:
      // MultiTxn: vector<Txn {int type; buffer data}>, each op's bytes written in place
      // behind a length patched afterwards.
      w.int(txn.txns.length);
      for (const inner of txn.txns) {
        w.int(inner.type);
        const lengthAt = w.byteLength;
        w.int(0);
        writeTxn(w, inner);
        w.patchInt(lengthAt, w.byteLength - lengthAt - 4);
      }
      return;
  }
}

/** Encodes a txn body to bytes. */
export function encodeTxn(txn: Txn): Buffer {
  const w = new JuteWriter();
  writeTxn(w, txn);
  return Buffer.from(w.toBuffer());
}

/**
 * Reads the txn body for `type` from `r`. A closeSession with no bytes left is the
 * pre-3.6 form with no CloseSessionTxn (ZOOKEEPER-3145), read as txn: null.
 */
export function readTxn(type: number, r: JuteReader): Txn {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
      return { type, txn: CreateTxn.read(r) };
    case OpCode.createTTL:
      return { type, txn: CreateTTLTxn.read(r) };
    case OpCode.createContainer:
      return { type, txn: CreateContainerTxn.read(r) };
    case OpCode.delete:
    case OpCode.deleteContainer:
      return { type, txn: DeleteTxn.read(r) };
    case OpCode.setData:
      return { type, txn: SetDataTxn.read(r) };
    case OpCode.setACL:
      return { type, txn: SetACLTxn.read(r) };
    case OpCode.check:
      return { type, txn: CheckVersionTxn.read(r) };
    case OpCode.createSession:
      return { type, txn: CreateSessionTxn.read(r) };
    case OpCode.closeSession:
      return { type, txn: r.remaining > 0 ? CloseSessionTxn.read(r) : null };
    case OpCode.error:
      return { type, txn: ErrorTxn.read(r) };
    case OpCode.multi: {
      const multi = MultiTxn.read(r);
      return {
        type,
        txns: multi.txns.map((inner) => {
          const body = inner.data ?? Buffer.alloc(0);
          const reader = new JuteReader(body);
          const decoded = readTxn(inner.type, reader);
          return decoded;
        }),
      };
    }
    default:
      throw new JuteDecodeError(`unknown txn type ${type}`);
  }
}
