/**
 * Multi requests and responses: a sequence of (MultiHeader, record) pairs closed by
 * MultiHeader{type: -1, done: true, err: -1}, as MultiOperationRecord and
 * MultiResponse serialize them.
 */
import type { JuteReader, JuteWriter } from "./binary.js";
import { JuteDecodeError } from "./binary.js";
import { OpCode } from "./constants.js";
import {
  CheckVersionRequest,
  Create2Response,
  CreateRequest,
  CreateResponse,
  CreateTTLRequest,
  DeleteRequest,
  ErrorResponse,
  GetChildrenRequest,
  GetChildrenResponse,
  GetDataRequest,
  GetDataResponse,
  MultiHeader,
  SetDataRequest,
  SetDataResponse,
} from "./records.js";

type Of<C> = C extends { read(r: JuteReader): infer T } ? T : never;

/** One op of a multi or multiRead request. */
export type MultiOp =
  | {
      type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer;
      request: Of<typeof CreateRequest>;
    }
  | { type: typeof OpCode.createTTL; request: Of<typeof CreateTTLRequest> }
  | { type: typeof OpCode.delete; request: Of<typeof DeleteRequest> }
  | { type: typeof OpCode.setData; request: Of<typeof SetDataRequest> }
  | { type: typeof OpCode.check; request: Of<typeof CheckVersionRequest> }
  | { type: typeof OpCode.getChildren; request: Of<typeof GetChildrenRequest> }
  | { type: typeof OpCode.getData; request: Of<typeof GetDataRequest> };

/** One result of a multi or multiRead response. */
export type MultiResult =
  | { type: typeof OpCode.create; path: string }
  | { type: typeof OpCode.create2; path: string; stat: Of<typeof Create2Response>["stat"] }
  | { type: typeof OpCode.delete }
  | { type: typeof OpCode.check }
  | { type: typeof OpCode.setData; stat: Of<typeof SetDataResponse>["stat"] }
  | { type: typeof OpCode.getChildren; children: string[] }
  | { type: typeof OpCode.getData; data: Buffer | null; stat: Of<typeof GetDataResponse>["stat"] }
  | { type: typeof OpCode.error; err: number };

/** Upper bound on ops in one multi, so a hostile frame cannot spin the decoder. */
export const multiOpsMax = 100_000;

export function writeMultiRequest(w: JuteWriter, ops: readonly MultiOp[]): void {
  for (const op of ops) {
    MultiHeader.write(w, { type: op.type, done: false, err: -1 });
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
        CreateRequest.write(w, op.request);
        break;
      case OpCode.createTTL:
        CreateTTLRequest.write(w, op.request);
        break;
      case OpCode.delete:
        DeleteRequest.write(w, op.request);
        break;
      case OpCode.setData:
        SetDataRequest.write(w, op.request);
        break;
      case OpCode.check:
        CheckVersionRequest.write(w, op.request);
        break;
      case OpCode.getChildren:
        GetChildrenRequest.write(w, op.request);
        break;
      case OpCode.getData:
        GetDataRequest.write(w, op.request);
        break;
    }
  }
  writeMultiEnd(w);
}

export function readMultiRequest(r: JuteReader): MultiOp[] {
  const ops: MultiOp[] = [];
  for (;;) {
    // A MultiHeader (type, done, err) read field by field: an object per op was garbage.
    const type = r.int();
    const done = r.bool();
    r.int();
    if (done) return ops;
    if (ops.length >= multiOpsMax) throw new JuteDecodeError(`multi has more than ${multiOpsMax} ops`);
    switch (type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
        ops.push({ type, request: CreateRequest.read(r) });
        break;
      case OpCode.createTTL:
        ops.push({ type, request: CreateTTLRequest.read(r) });
        break;
      case OpCode.delete:
        ops.push({ type, request: DeleteRequest.read(r) });
        break;
      case OpCode.setData:
        ops.push({ type, request: SetDataRequest.read(r) });
        break;
      case OpCode.check:
        ops.push({ type, request: CheckVersionRequest.read(r) });
        break;
      case OpCode.getChildren:
        ops.push({ type, request: GetChildrenRequest.read(r) });
        break;
      case OpCode.getData:
        ops.push({ type, request: GetDataRequest.read(r) });
        break;
      default:
        throw new JuteDecodeError(`invalid op type ${type} in multi`);
    }
  }
}

/** The header in front of one op's result in a multi response. */
export function writeMultiResultHeader(w: JuteWriter, type: number, err: number): void {
  w.int(type).bool(false).int(err);
}

/** The header that closes a multi request or response: {type: -1, done: true, err: -1}. */
export function writeMultiEnd(w: JuteWriter): void {
  w.int(-1).bool(true).int(-1);
}

export function writeMultiResponse(w: JuteWriter, results: readonly MultiResult[]): void {
  for (const result of results) {
    writeMultiResultHeader(w, result.type, result.type === OpCode.error ? result.err : 0);
    switch (result.type) {
      case OpCode.create:
        CreateResponse.write(w, { path: result.path });
        break;
      case OpCode.create2:
        Create2Response.write(w, { path: result.path, stat: result.stat });
        break;
      case OpCode.delete:
      case OpCode.check:
        break;
      case OpCode.setData:
        SetDataResponse.write(w, { stat: result.stat });
        break;
      case OpCode.getChildren:
        GetChildrenResponse.write(w, { children: result.children });
        break;
      case OpCode.getData:
        GetDataResponse.write(w, { data: result.data, stat: result.stat });
        break;
      case OpCode.error:
        ErrorResponse.write(w, { err: result.err });
        break;
    }
  }
  writeMultiEnd(w);
}

export function readMultiResponse(r: JuteReader): MultiResult[] {
  const results: MultiResult[] = [];
  for (;;) {
    const header = MultiHeader.read(r);
    if (header.done) return results;
    if (results.length >= multiOpsMax)
      throw new JuteDecodeError(`multi has more than ${multiOpsMax} results`);
    switch (header.type) {
      case OpCode.create:
        results.push({ type: header.type, path: CreateResponse.read(r).path });
        break;
      case OpCode.create2: {
        const response = Create2Response.read(r);
        results.push({ type: header.type, path: response.path, stat: response.stat });
        break;
      }
      case OpCode.delete:
      case OpCode.check:
        results.push({ type: header.type });
        break;
      case OpCode.setData:
        results.push({ type: header.type, stat: SetDataResponse.read(r).stat });
        break;
      case OpCode.getChildren:
        results.push({ type: header.type, children: GetChildrenResponse.read(r).children });
        break;
      case OpCode.getData: {
        const response = GetDataResponse.read(r);
        results.push({ type: header.type, data: response.data, stat: response.stat });
        break;
      }
      case OpCode.error:
        results.push({ type: header.type, err: ErrorResponse.read(r).err });
        break;
      default:
        throw new JuteDecodeError(`invalid result type ${header.type} in multi response`);
    }
  }
}
