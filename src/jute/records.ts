/**
 * Every record of Apache ZooKeeper 3.8's zookeeper.jute that clients, txns, data
 * files and the quorum use, in wire order.
 */
import { bool, buffer, type Codec, int, long, type RecordOf, record, ustring, vector } from "./codec.js";

// org.apache.zookeeper.data
export const Id = record("Id", { scheme: ustring, id: ustring });
export const ACL = record("ACL", { perms: int, id: Id });
export const ACLList = vector(ACL);
export const Stat = record("Stat", {
  czxid: long,
  mzxid: long,
  ctime: long,
  mtime: long,
  version: int,
  cversion: int,
  aversion: int,
  ephemeralOwner: long,
  dataLength: int,
  numChildren: int,
  pzxid: long,
});
export const StatPersisted = record("StatPersisted", {
  czxid: long,
  mzxid: long,
  ctime: long,
  mtime: long,
  version: int,
  cversion: int,
  aversion: int,
  ephemeralOwner: long,
  pzxid: long,
});
export const ClientInfo = record("ClientInfo", { authScheme: ustring, user: ustring });

export type Id = RecordOf<{ scheme: typeof ustring; id: typeof ustring }>;
export type ACL = { perms: number; id: Id };
export type Stat = ReturnType<typeof Stat.read>;
export type StatPersisted = ReturnType<typeof StatPersisted.read>;
export type ClientInfo = ReturnType<typeof ClientInfo.read>;

// org.apache.zookeeper.proto
export const ConnectRequest = record("ConnectRequest", {
  protocolVersion: int,
  lastZxidSeen: long,
  timeOut: int,
  sessionId: long,
  passwd: buffer,
});
export const ConnectResponse = record("ConnectResponse", {
  protocolVersion: int,
  timeOut: int,
  sessionId: long,
  passwd: buffer,
});
export const SetWatches = record("SetWatches", {
  relativeZxid: long,
  dataWatches: vector(ustring),
  existWatches: vector(ustring),
  childWatches: vector(ustring),
});
export const SetWatches2 = record("SetWatches2", {
  relativeZxid: long,
  dataWatches: vector(ustring),
  existWatches: vector(ustring),
  childWatches: vector(ustring),
  persistentWatches: vector(ustring),
  persistentRecursiveWatches: vector(ustring),
});
export const RequestHeader = record("RequestHeader", { xid: int, type: int });
export const MultiHeader = record("MultiHeader", { type: int, done: bool, err: int });
export const AuthPacket = record("AuthPacket", { type: int, scheme: ustring, auth: buffer });
export const ReplyHeader = record("ReplyHeader", { xid: int, zxid: long, err: int });
export const GetDataRequest = record("GetDataRequest", { path: ustring, watch: bool });
export const SetDataRequest = record("SetDataRequest", { path: ustring, data: buffer, version: int });
export const ReconfigRequest = record("ReconfigRequest", {
  joiningServers: ustring,
  leavingServers: ustring,
  newMembers: ustring,
  curConfigId: long,
});
export const SetDataResponse = record("SetDataResponse", { stat: Stat });
export const GetSASLRequest = record("GetSASLRequest", { token: buffer });
export const SetSASLRequest = record("SetSASLRequest", { token: buffer });
export const SetSASLResponse = record("SetSASLResponse", { token: buffer });
export const CreateRequest = record("CreateRequest", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  flags: int,
});
export const CreateTTLRequest = record("CreateTTLRequest", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  flags: int,
  ttl: long,
});
export const DeleteRequest = record("DeleteRequest", { path: ustring, version: int });
export const GetChildrenRequest = record("GetChildrenRequest", { path: ustring, watch: bool });
export const GetAllChildrenNumberRequest = record("GetAllChildrenNumberRequest", { path: ustring });
export const GetChildren2Request = record("GetChildren2Request", { path: ustring, watch: bool });
export const CheckVersionRequest = record("CheckVersionRequest", { path: ustring, version: int });
export const GetMaxChildrenRequest = record("GetMaxChildrenRequest", { path: ustring });
export const GetMaxChildrenResponse = record("GetMaxChildrenResponse", { max: int });
export const SetMaxChildrenRequest = record("SetMaxChildrenRequest", { path: ustring, max: int });
export const SyncRequest = record("SyncRequest", { path: ustring });
export const SyncResponse = record("SyncResponse", { path: ustring });
export const GetACLRequest = record("GetACLRequest", { path: ustring });
export const SetACLRequest = record("SetACLRequest", { path: ustring, acl: ACLList, version: int });
export const SetACLResponse = record("SetACLResponse", { stat: Stat });
export const AddWatchRequest = record("AddWatchRequest", { path: ustring, mode: int });
export const WatcherEvent = record("WatcherEvent", { type: int, state: int, path: ustring });
export const ErrorResponse = record("ErrorResponse", { err: int });
export const CreateResponse = record("CreateResponse", { path: ustring });
export const Create2Response = record("Create2Response", { path: ustring, stat: Stat });
export const ExistsRequest = record("ExistsRequest", { path: ustring, watch: bool });
export const ExistsResponse = record("ExistsResponse", { stat: Stat });
export const GetDataResponse = record("GetDataResponse", { data: buffer, stat: Stat });
export const GetChildrenResponse = record("GetChildrenResponse", { children: vector(ustring) });
export const GetAllChildrenNumberResponse = record("GetAllChildrenNumberResponse", { totalNumber: int });
export const GetChildren2Response = record("GetChildren2Response", { children: vector(ustring), stat: Stat });
export const GetACLResponse = record("GetACLResponse", { acl: ACLList, stat: Stat });
export const CheckWatchesRequest = record("CheckWatchesRequest", { path: ustring, type: int });
export const RemoveWatchesRequest = record("RemoveWatchesRequest", { path: ustring, type: int });
export const GetEphemeralsRequest = record("GetEphemeralsRequest", { prefixPath: ustring });
export const GetEphemeralsResponse = record("GetEphemeralsResponse", { ephemerals: vector(ustring) });
export const WhoAmIResponse = record("WhoAmIResponse", { clientInfo: vector(ClientInfo) });

// org.apache.zookeeper.server.quorum
export const LearnerInfo = record("LearnerInfo", {
  serverid: long,
  protocolVersion: int,
  configVersion: long,
});
export const QuorumPacket = record("QuorumPacket", {
  type: int,
  zxid: long,
  data: buffer,
  authinfo: vector(Id),
});
export const QuorumAuthPacket = record("QuorumAuthPacket", { magic: long, status: int, token: buffer });

// org.apache.zookeeper.server.persistence
export const FileHeader = record("FileHeader", { magic: int, version: int, dbid: long });

// org.apache.zookeeper.txn
export const TxnDigest = record("TxnDigest", { version: int, treeDigest: long });
export const TxnHeader = record("TxnHeader", {
  clientId: long,
  cxid: int,
  zxid: long,
  time: long,
  type: int,
});
export const CreateTxnV0 = record("CreateTxnV0", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  ephemeral: bool,
});
export const CreateTxn = record("CreateTxn", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  ephemeral: bool,
  parentCVersion: int,
});
export const CreateTTLTxn = record("CreateTTLTxn", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  parentCVersion: int,
  ttl: long,
});
export const CreateContainerTxn = record("CreateContainerTxn", {
  path: ustring,
  data: buffer,
  acl: ACLList,
  parentCVersion: int,
});
export const DeleteTxn = record("DeleteTxn", { path: ustring });
export const SetDataTxn = record("SetDataTxn", { path: ustring, data: buffer, version: int });
export const CheckVersionTxn = record("CheckVersionTxn", { path: ustring, version: int });
export const SetACLTxn = record("SetACLTxn", { path: ustring, acl: ACLList, version: int });
export const SetMaxChildrenTxn = record("SetMaxChildrenTxn", { path: ustring, max: int });
export const CreateSessionTxn = record("CreateSessionTxn", { timeOut: int });
export const CloseSessionTxn = record("CloseSessionTxn", { paths2Delete: vector(ustring) });
export const ErrorTxn = record("ErrorTxn", { err: int });
/** One op inside a MultiTxn: its txn type and the txn's serialized bytes. */
export const Txn = record("Txn", { type: int, data: buffer });
export const MultiTxn = record("MultiTxn", { txns: vector(Txn) });

type Of<C> = C extends Codec<infer T> ? T : never;
export type ConnectRequest = Of<typeof ConnectRequest>;
export type ConnectResponse = Of<typeof ConnectResponse>;
export type SetWatches2 = Of<typeof SetWatches2>;
export type RequestHeader = Of<typeof RequestHeader>;
export type ReplyHeader = Of<typeof ReplyHeader>;
export type MultiHeader = Of<typeof MultiHeader>;
export type WatcherEvent = Of<typeof WatcherEvent>;
export type TxnHeader = Of<typeof TxnHeader>;
export type TxnDigest = Of<typeof TxnDigest>;
export type CreateTxn = Of<typeof CreateTxn>;
export type CreateTTLTxn = Of<typeof CreateTTLTxn>;
export type CreateContainerTxn = Of<typeof CreateContainerTxn>;
export type DeleteTxn = Of<typeof DeleteTxn>;
export type SetDataTxn = Of<typeof SetDataTxn>;
export type CheckVersionTxn = Of<typeof CheckVersionTxn>;
export type SetACLTxn = Of<typeof SetACLTxn>;
export type CreateSessionTxn = Of<typeof CreateSessionTxn>;
export type CloseSessionTxn = Of<typeof CloseSessionTxn>;
export type ErrorTxn = Of<typeof ErrorTxn>;
export type MultiTxn = Of<typeof MultiTxn>;
export type QuorumPacket = Of<typeof QuorumPacket>;
export type FileHeader = Of<typeof FileHeader>;
