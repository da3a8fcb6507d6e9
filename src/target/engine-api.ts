/**
 * What the daemon asks of the iSCSI engine (src/target/engine.ts implements it).
 * The daemon builds a TargetDefinition from the cluster store (src/cluster)
 * and starts it; the engine owns listeners, connections and sessions.
 */
import type { BlockStore } from '../lun/block-store.js';
import type { PrPersistence } from '../scsi/persistent-reservations/persistence.js';
import type { AluaStateName } from '../scsi/alua.js';

export interface PortalDefinition {
  /** IPv4/IPv6 literal the listener binds to. */
  address: string;
  /** TCP port, default 3260. */
  port: number;
  /** Target portal group tag (RFC 7143 §13.9), stable. */
  tpgt: number;
  /** SCSI relative target port identifier (SPC-4 §7.8.6.x), stable. */
  relativePortId: number;
  /** ALUA target port group ID, stable. */
  portGroupId: number;
}

/** An ALUA target port group's access state (SPC-4 §5.15); groups not listed are active/optimized. */
export interface PortGroupDefinition {
  /** ALUA target port group ID (PortalDefinition.portGroupId). */
  id: number;
  state: AluaStateName;
}

/** A target port group of a running target, as the control API reports it. */
export interface PortGroupStatus {
  id: number;
  state: AluaStateName;
  portals: Array<{ address: string; port: number; relativePortId: number; tpgt: number; listening: boolean }>;
}

export interface LunDefinition {
  id: number;
  store: BlockStore;
  /** 512 or 4096. */
  blockSize: number;
  /** Unit serial number (VPD 80h), stable. */
  serial: string;
  /** NAA IEEE Registered Extended designator, 32 hex digits (VPD 83h), stable. */
  naa: string;
  /** When false the LUN is hidden from initiators (Online: No). */
  online: boolean;
  /** Physical block size in bytes (SBC-3 §4.6), e.g. 4096 on a 512-byte LUN (512e); default: the logical block size. */
  physicalBlockSize?: number;
}

export interface ChapSecret {
  user: string;
  secret: string;
}

/** How initiators must authenticate. Read at every login so changes apply at once. */
export interface AuthPolicy {
  /** One-way CHAP: the initiator proves it knows this secret. Undefined: no authentication. */
  chap?: ChapSecret;
  /** Mutual CHAP: the target proves itself with this secret when the initiator asks. */
  mutual?: ChapSecret;
}

export interface TargetDefinition {
  iqn: string;
  alias?: string;
  portals: PortalDefinition[];
  luns: LunDefinition[];
  /** Called at each login. */
  auth: () => AuthPolicy;
  /** Initiator access list; undefined allows everyone. Returns false to refuse (login status 0x0202). */
  initiatorAllowed?: (initiatorName: string) => boolean;
  /** Persistent reservation state of the LUNs (SPC-4 §5.13), loaded and written durably by the daemon; default: memory only. */
  persistentReservations?: PrPersistence;
  /** ALUA access states of the port groups at start (default: all active/optimized). */
  portGroups?: PortGroupDefinition[];
  /** Offer explicit ALUA (SET TARGET PORT GROUPS, TPGS 11b); default implicit only. */
  aluaExplicit?: boolean;
}

export interface SessionInfo {
  targetIqn: string;
  initiatorName: string;
  /** Initiator's IP address as seen on the connection. */
  initiatorAddress: string;
  isid: string;
  tsih: number;
  portal: string;
}

export interface EngineOptions {
  /** Discovery session authentication (RFC 7143 §12.1). */
  discoveryAuth: () => AuthPolicy;
  /** Log sink. */
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, ctx?: Record<string, unknown>) => void;
}

export interface StopResult {
  stopped: boolean;
  /** Sessions that were connected (refused stop when not forced). */
  sessions: SessionInfo[];
}

export interface TargetEngine {
  startTarget(def: TargetDefinition): Promise<void>;
  /** Without force, refuses when sessions exist and lists them. */
  stopTarget(iqn: string, opts: { force: boolean }): Promise<StopResult>;
  isRunning(iqn: string): boolean;
  sessions(iqn?: string): SessionInfo[];
  /**
   * Show or hide a LUN of a running target (Online: Yes/No) without a restart;
   * false when the target is not running or has no such LUN.
   */
  setLunOnline?(iqn: string, lunId: number, online: boolean): boolean;
  /**
   * A LUN's store grew (online `lun-grow`): CAPACITY DATA HAS CHANGED for
   * every I_T nexus (SBC-3 §4.8); false when the target or LUN is unknown.
   */
  lunCapacityChanged?(iqn: string, lunId: number): boolean;
  /**
   * Change a port group's ALUA state on a running target (an implicit
   * transition: ASYMMETRIC ACCESS STATE CHANGED for every I_T nexus).
   * Returns the previous state; throws ISCSI_ERR_GROUP_NOT_FOUND or
   * ISCSI_ERR_TARGET_NOT_RUNNING.
   */
  setPortGroupState?(iqn: string, groupId: number, state: AluaStateName): AluaStateName;
  /** Port groups of a running target with their states and portals; undefined when it is not running. */
  portGroups?(iqn: string): PortGroupStatus[] | undefined;
  /**
   * Stop (false) or resume (true) listening on one portal of a running
   * target; stopping drops the connections that came in through it, as a
   * failed network path would. Returns the number of connections dropped.
   * Throws ISCSI_ERR_PORTAL_NOT_FOUND or ISCSI_ERR_TARGET_NOT_RUNNING.
   */
  setPortalListening?(iqn: string, address: string, port: number, listening: boolean): Promise<{ changed: boolean; dropped: number }>;
  /** Stop everything (SIGTERM). */
  close(): Promise<void>;
}
