/**
 * The SCSI target device: all logical units of one iSCSI target, and the
 * dispatcher every command goes through (DESIGN.md §3).
 *
 * Dispatch order for each command:
 *  1. the logical unit exists (else LOGICAL UNIT NOT SUPPORTED, except for
 *     INQUIRY, REPORT LUNS and REQUEST SENSE, which answer for any LUN;
 *     SPC-4 §6.6.2, §6.33, §6.39);
 *  2. unit attention for the I_T nexus (SAM-5 §5.14; INQUIRY, REPORT LUNS
 *     and REQUEST SENSE neither report nor get blocked by one);
 *  3. operation code known (INVALID COMMAND OPERATION CODE), service action
 *     known (INVALID FIELD IN CDB);
 *  4. reservation conflict: RESERVE(6)/(10) held by another nexus, then the
 *     persistent-reservation hook (SPC-4 §5.13.1);
 *  5. ALUA access state (hook; SPC-4 §5.15);
 *  6. CDB validation: reserved bits from the usage bitmap, CONTROL byte
 *     NACA/LINK, then the command's own field checks (INVALID FIELD IN CDB
 *     with a sense-key specific field pointer);
 *  7. LBA range (LOGICAL BLOCK ADDRESS OUT OF RANGE) and transfer length
 *     limits (INVALID FIELD IN CDB);
 *  8. the handler.
 * Only the dispatcher encodes sense data: fixed format, or descriptor format
 * when the control mode page has D_SENSE = 1 (SPC-4 §4.5.1).
 */
import type { LunDefinition } from '../target/engine-api.js';
import { DataDirection, ScsiStatus, type CommandShape, type ItNexus, type ScsiRequest, type ScsiResponse, type ScsiTarget, type TargetPortInfo } from './types.js';
import type { CommandContext, CommandDef, DeviceServices, LuContext } from './command.js';
import { COMMANDS, CommandIndex, DEFAULT_INDEX } from './command-table.js';
import { CheckCondition, invalidFieldInCdb, invalidFieldInParameterList, invalidOpcode, lbaOutOfRange, luNotSupported } from './check-condition.js';
import { Asc, SenseKey } from './constants.js';
import { encodeSense } from './sense.js';
import { LogicalUnit, type BlockLimits } from './logical-unit.js';
import { ruleFor, type ReservationHook } from './reservations.js';
import type { CopyTarget, CopyTargetResolver } from './spc/extended-copy-manager.js';
import { LuReservations, PERSISTENT_RESERVATIONS, attachReservations, type PrPersistence } from './persistent-reservations/index.js';
import { TargetPortGroups, type AluaHook, type PortGroupChange } from './alua.js';

export type ScsiLogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, ctx?: Record<string, unknown>) => void;

export interface ScsiTargetDeviceOptions {
  /** The target's IQN: SCSI target device name in VPD 83h. */
  targetIqn: string;
  /** Logical units; those with `online: false` exist but are hidden from initiators. */
  luns: LunDefinition[];
  /** Target ports (one per portal group) for REPORT TARGET PORT GROUPS; ports seen on a nexus are added. */
  ports?: TargetPortInfo[];
  /** Default of the caching mode page WCE bit (DESIGN.md §6: true). */
  writeCache?: boolean;
  /** Overrides of the VPD B0h block limits (all LUNs). */
  limits?: Partial<BlockLimits>;
  /**
   * Physical block size to report (READ CAPACITY(16) LOGICAL BLOCKS PER
   * PHYSICAL BLOCK EXPONENT, SBC-3 §5.16.2), in bytes; at most the logical
   * block size means "same as the logical block". Default: the logical block
   * size; 4096 describes the stores truthfully (logical-unit.ts explains why
   * that is not the default).
   */
  physicalBlockBytes?: number;
  /** The persistent-reservation conflict test. Default: persistent-reservations/ PERSISTENT_RESERVATIONS. */
  reservations?: ReservationHook;
  /**
   * Where persistent reservation state is loaded from and written to
   * (SPC-4 §5.13, DESIGN.md §6: durable before GOOD). Default: memory only.
   */
  persistentReservations?: PrPersistence;
  /**
   * Abort the tasks of these I_T nexuses (ItNexus ids) for a LUN, resolving
   * once they have stopped: PREEMPT AND ABORT (SPC-4 §5.13.11.2.5). The
   * transport provides it; without it nothing is aborted.
   */
  abortTasks?: (nexusIds: string[], lun: number) => Promise<void>;
  /** ALUA access states. Default: every group active/optimized, changeable (SET TARGET PORT GROUPS). */
  alua?: AluaHook;
  /**
   * EXTENDED COPY: logical units of other targets of the daemon, by NAA
   * designator, that the initiator of a nexus may use as copy sources and
   * destinations (target/engine.ts). Default: only this target's own.
   */
  copyTargets?: CopyTargetResolver;
  log?: ScsiLogFn;
}

export class ScsiTargetError extends Error {
  constructor(
    readonly code: 'SCSI_LUN_EXISTS' | 'SCSI_NO_SUCH_LUN',
    message: string,
  ) {
    super(message);
    this.name = 'ScsiTargetError';
  }
}

const RESERVATION_CONFLICT: ScsiResponse = Object.freeze({ status: ScsiStatus.ReservationConflict });

class Context implements CommandContext {
  lba = 0;
  blocks = 0;
  constructor(
    readonly device: DeviceServices,
    readonly req: ScsiRequest,
    readonly cdb: Buffer,
    readonly nexus: ItNexus,
    readonly lu: LogicalUnit | null,
  ) {}
}

export class ScsiTargetDevice implements ScsiTarget, DeviceServices {
  readonly targetIqn: string;
  readonly alua: AluaHook;
  readonly commands: readonly CommandDef[];
  private readonly index: CommandIndex;
  private readonly reservations: ReservationHook;
  private readonly prPersistence?: PrPersistence;
  private readonly abortTasks?: (nexusIds: string[], lun: number) => Promise<void>;
  private readonly log: ScsiLogFn;
  private readonly writeCache: boolean;
  private readonly limits?: Partial<BlockLimits>;
  private readonly physicalBlockBytes?: number;
  private readonly copyTargets?: CopyTargetResolver;
  /** Every logical unit, online or not. */
  private readonly all = new Map<number, LogicalUnit>();
  /** Online logical units: what initiators can address. */
  private readonly visible = new Map<number, LogicalUnit>();
  private readonly configuredPorts: TargetPortInfo[];
  private readonly seenPorts = new Map<number, TargetPortInfo>();
  /** Known I_T nexuses by id, with a reference count (a reinstated session may overlap its predecessor). */
  private readonly nexuses = new Map<string, { nexus: ItNexus; refs: number }>();

  constructor(opts: ScsiTargetDeviceOptions) {
    this.targetIqn = opts.targetIqn;
    this.alua = opts.alua ?? new TargetPortGroups();
    this.reservations = opts.reservations ?? PERSISTENT_RESERVATIONS;
    this.prPersistence = opts.persistentReservations;
    this.abortTasks = opts.abortTasks;
    this.log = opts.log ?? (() => undefined);
    this.writeCache = opts.writeCache ?? true;
    this.limits = opts.limits;
    this.physicalBlockBytes = opts.physicalBlockBytes;
    this.copyTargets = opts.copyTargets;
    this.index = DEFAULT_INDEX;
    // Without explicit ALUA, SET TARGET PORT GROUPS is not supported (TPGS 01b, SPC-4 §6.6.2).
    this.commands = this.alua.explicit ? this.index.all : this.index.all.filter((d) => d.name !== 'SET TARGET PORT GROUPS');
    this.configuredPorts = [...(opts.ports ?? [])];
    for (const l of opts.luns) this.insertLun(l);
  }

  // ------------------------------------------------------------ logical units

  private insertLun(l: LunDefinition): LogicalUnit {
    if (this.all.has(l.id)) throw new ScsiTargetError('SCSI_LUN_EXISTS', `LUN ${l.id} already exists on ${this.targetIqn}`);
    const lu = new LogicalUnit(l, { writeCache: this.writeCache }, this.limits, { physicalBlockBytes: l.physicalBlockSize ?? this.physicalBlockBytes });
    this.attachPersistentReservations(lu);
    this.all.set(l.id, lu);
    if (l.online) this.visible.set(l.id, lu);
    return lu;
  }

  /** SPC-4 §5.13: the logical unit's persistent reservations, with the state stored for it (keyed by its NAA designator). */
  private attachPersistentReservations(lu: LogicalUnit): void {
    const identity = { id: lu.id, naa: lu.naa };
    const store = this.prPersistence;
    const pr = new LuReservations(
      {
        lun: lu.id,
        ua: lu.ua,
        ports: () => this.ports(),
        nexuses: () => [...this.nexuses.values()].map((e) => e.nexus),
        abortTasks: (ids, lun) => (this.abortTasks ? this.abortTasks(ids, lun) : Promise.resolve()),
        save: (snapshot) => (store ? store.save(identity, snapshot) : Promise.resolve()),
      },
      store?.initial(identity),
    );
    attachReservations(lu, pr);
  }

  /** Add a logical unit: POWER ON/RESET for it, REPORTED LUNS DATA HAS CHANGED on the others (SAM-5 §5.14, SPC-4 §6.33). */
  addLun(l: LunDefinition): void {
    const lu = this.insertLun(l);
    lu.ua.establishFor(this.nexuses.keys(), Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
    if (l.online) this.lunInventoryChanged(lu);
  }

  removeLun(id: number): void {
    const lu = this.all.get(id);
    if (!lu) throw new ScsiTargetError('SCSI_NO_SUCH_LUN', `LUN ${id} does not exist on ${this.targetIqn}`);
    this.all.delete(id);
    const wasVisible = this.visible.delete(id);
    if (wasVisible) this.lunInventoryChanged(lu);
  }

  /** Show or hide a logical unit (the "online" setting). */
  setLunOnline(id: number, online: boolean): void {
    const lu = this.all.get(id);
    if (!lu) throw new ScsiTargetError('SCSI_NO_SUCH_LUN', `LUN ${id} does not exist on ${this.targetIqn}`);
    if (online === this.visible.has(id)) return;
    if (online) {
      this.visible.set(id, lu);
      lu.ua.establishFor(this.nexuses.keys(), Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
    } else {
      this.visible.delete(id);
    }
    this.lunInventoryChanged(lu);
  }

  /** Capacity changed (lun-grow): CAPACITY DATA HAS CHANGED for every nexus (SBC-3 §4.8). */
  capacityChanged(id: number): void {
    const lu = this.all.get(id);
    if (!lu) throw new ScsiTargetError('SCSI_NO_SUCH_LUN', `LUN ${id} does not exist on ${this.targetIqn}`);
    lu.ua.establishFor(this.nexuses.keys(), Asc.CAPACITY_DATA_HAS_CHANGED);
  }

  hasLun(lun: number): boolean {
    return this.visible.has(lun);
  }

  /**
   * The response to a command the transport could not deliver whole (a
   * Data-Out sequence error, RFC 7143 §7.4.1) or that broke in the transport
   * layer: CHECK CONDITION, ABORTED COMMAND, DATA PHASE ERROR, in the sense
   * format the LU's control mode page D_SENSE selects (SPC-4 §4.5.1).
   */
  transportFailure(lun: number): ScsiResponse {
    const lu = this.all.get(lun);
    const asc = Asc.DATA_PHASE_ERROR;
    return { status: ScsiStatus.CheckCondition, sense: encodeSense({ key: SenseKey.ABORTED_COMMAND, asc: asc >> 8, ascq: asc & 0xff }, lu ? lu.mode.dSense : false) };
  }

  /** A logical unit by LUN (online or not), for inspection. */
  logicalUnit(id: number): LogicalUnit | undefined {
    return this.all.get(id);
  }

  private lunInventoryChanged(changed: LogicalUnit): void {
    for (const lu of this.all.values()) {
      if (lu !== changed) lu.ua.establishFor(this.nexuses.keys(), Asc.REPORTED_LUNS_DATA_HAS_CHANGED);
    }
  }

  // ------------------------------------------------------------ DeviceServices

  luns(): LogicalUnit[] {
    return [...this.visible.values()].sort((a, b) => a.id - b.id);
  }

  ports(): TargetPortInfo[] {
    const byId = new Map<number, TargetPortInfo>();
    for (const p of this.configuredPorts) byId.set(p.relativePortId, p);
    for (const p of this.seenPorts.values()) if (!byId.has(p.relativePortId)) byId.set(p.relativePortId, p);
    return [...byId.values()].sort((a, b) => a.relativePortId - b.relativePortId);
  }

  modeParametersChanged(lu: LogicalUnit, by: ItNexus): void {
    lu.ua.establishFor(this.nexuses.keys(), Asc.MODE_PARAMETERS_CHANGED, by.id);
  }

  reportLunsDone(nexus: ItNexus): void {
    for (const lu of this.all.values()) lu.ua.clear(nexus.id, Asc.REPORTED_LUNS_DATA_HAS_CHANGED);
  }

  copyTarget(naa: string, nexus: ItNexus): CopyTarget | undefined {
    const lu = this.lunByNaa(naa);
    if (lu) return { lu, conflicts: (write) => this.copyAccessConflicts(lu, nexus, write) };
    return this.copyTargets?.(naa, nexus);
  }

  /** The online logical unit with this NAA designator (hex, any case), if any. */
  lunByNaa(naa: string): LogicalUnit | undefined {
    const want = naa.toLowerCase();
    for (const lu of this.visible.values()) if (lu.naa === want) return lu;
    return undefined;
  }

  /**
   * Would a READ (`write` false) or WRITE from `nexus` to `lu` end in
   * RESERVATION CONFLICT (SPC-4 §5.13.1)? A copy manager asks before using
   * `lu` as a copy source or destination on that nexus's behalf.
   */
  copyAccessConflicts(lu: LogicalUnit, nexus: ItNexus, write: boolean): boolean {
    const def = write ? COMMANDS.WRITE_16 : COMMANDS.READ_16;
    const cdb = Buffer.alloc(16);
    cdb[0] = def.opcode;
    const holder = lu.reservationHolder;
    if (holder !== undefined && holder !== nexus.id && ruleFor(def, cdb).reserved === 'conflict') return true;
    return this.reservations.conflicts(lu, nexus, def, cdb);
  }

  setPortGroupStates(changes: readonly PortGroupChange[], by?: ItNexus): PortGroupChange[] {
    // A hook without `apply` has fixed states: nothing can be requested (SPC-4 §6.40).
    if (!this.alua.apply) throw invalidFieldInParameterList(4, 3);
    const changed = this.alua.apply(changes, by !== undefined);
    // SPC-4 §5.15.2: ASYMMETRIC ACCESS STATE CHANGED for every I_T nexus (explicit: but the requester's).
    if (changed.length > 0) {
      for (const lu of this.all.values()) lu.ua.establishFor(this.nexuses.keys(), Asc.ASYMMETRIC_ACCESS_STATE_CHANGED, by?.id);
      this.log('info', 'ALUA state changed', {
        target: this.targetIqn,
        groups: changed.map((c) => `${c.id}=${c.state}`).join(' '),
        by: by ? by.initiatorPortName : 'administrator',
      });
    }
    return changed;
  }

  // ------------------------------------------------------------ nexus events

  nexusAdded(nexus: ItNexus): void {
    const known = this.nexuses.get(nexus.id);
    if (known) {
      known.refs++;
      known.nexus = nexus;
    } else {
      this.nexuses.set(nexus.id, { nexus, refs: 1 });
    }
    if (!this.seenPorts.has(nexus.targetPort.relativePortId)) this.seenPorts.set(nexus.targetPort.relativePortId, nexus.targetPort);
    // SAM-5 §6.3.1: a new I_T nexus sees POWER ON, RESET, OR BUS DEVICE RESET OCCURRED first.
    for (const lu of this.all.values()) lu.ua.establish(nexus.id, Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
  }

  nexusRemoved(nexus: ItNexus): void {
    const known = this.nexuses.get(nexus.id);
    if (!known) return;
    if (--known.refs > 0) return;
    this.nexuses.delete(nexus.id);
    for (const lu of this.all.values()) {
      lu.ua.forget(nexus.id);
      // SPC-2 §5.5.1: an I_T nexus loss releases its RESERVE(6)/(10) reservation.
      if (lu.reservationHolder === nexus.id) lu.reservationHolder = undefined;
    }
  }

  /**
   * LOGICAL UNIT RESET (SAM-5 §6.3.3): mode parameters return to their
   * defaults (nothing is saved), a RESERVE(6)/(10) reservation is released
   * (SPC-2 §5.5.1) and every I_T nexus, the requesting one
   * included, gets BUS DEVICE RESET FUNCTION OCCURRED. Aborting the tasks
   * is the transport's part.
   */
  lunReset(lun: number, _nexus: ItNexus): void {
    const lu = this.all.get(lun);
    if (!lu) return;
    lu.mode.reset();
    lu.reservationHolder = undefined;
    lu.ua.establishFor(this.nexuses.keys(), Asc.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
  }

  /** TARGET WARM/COLD RESET (RFC 7143 §11.5.1, SAM-5 §6.3.2): every LU as after a reset, UA for every nexus. */
  targetReset(_nexus: ItNexus): void {
    for (const lu of this.all.values()) {
      lu.mode.reset();
      lu.reservationHolder = undefined;
      lu.ua.establishFor(this.nexuses.keys(), Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
    }
  }

  // ------------------------------------------------------------ ScsiTarget

  shape(lun: number, cdb: Buffer): CommandShape {
    const def = this.index.lookup(cdb);
    if (!def) return { direction: DataDirection.None, transferLength: undefined };
    const lu = this.visible.get(lun);
    if (def.blockSized) {
      if (!lu) return { direction: def.direction, transferLength: undefined };
      return { direction: def.direction, transferLength: def.transferLength(cdb, lu.blockSize) };
    }
    return { direction: def.direction, transferLength: def.transferLength(cdb, lu ? lu.blockSize : 0) };
  }

  async execute(req: ScsiRequest): Promise<ScsiResponse> {
    const cdb = req.cdb;
    const lu = this.visible.get(req.lun) ?? null;
    const def = this.index.lookup(cdb);
    try {
      if (!lu) {
        if (!def || !def.anyLun) throw luNotSupported();
      } else if (lu.ua.pending !== 0 && !(def && def.uaExempt)) {
        const ua = lu.ua.take(req.nexus.id);
        if (ua !== undefined) {
          return { status: ScsiStatus.CheckCondition, sense: encodeSense({ key: SenseKey.UNIT_ATTENTION, asc: ua >> 8, ascq: ua & 0xff }, lu.mode.dSense) };
        }
      }
      if (!def) {
        if (this.index.hasServiceActions(cdb[0])) throw invalidFieldInCdb(1, 4);
        throw invalidOpcode();
      }
      if (lu) {
        // SPC-4 §5.13.1 column A: reserved with RESERVE(6)/(10) by another I_T nexus.
        const holder = lu.reservationHolder;
        if (holder !== undefined && holder !== req.nexus.id && ruleFor(def, cdb).reserved === 'conflict') return RESERVATION_CONFLICT;
        if (this.reservations.conflicts(lu, req.nexus, def, cdb)) return RESERVATION_CONFLICT;
        const denied = this.alua.check(lu, req.nexus, def);
        if (denied) throw denied;
      }
      this.checkCdb(def, cdb);
      if (def.validate) def.validate(cdb, lu);
      const ctx = new Context(this, req, cdb, req.nexus, lu);
      let res: ScsiResponse;
      if (def.anyLun) {
        res = await def.handler(ctx);
      } else {
        const luCtx = ctx as LuContext;
        const range = def.range;
        if (range) {
          const l = luCtx.lu;
          const lba = range.lba(cdb);
          const blocks = range.blocks(cdb, lba, l);
          // SBC-3 §4.5: the range must lie within the capacity.
          if (lba + blocks > l.numBlocks) throw lbaOutOfRange(lba);
          if (range.maxBlocks !== undefined && blocks > range.maxBlocks(l, cdb)) throw invalidFieldInCdb(range.blocksField, 7);
          ctx.lba = lba;
          ctx.blocks = blocks;
        }
        res = await def.handler(luCtx);
      }
      const data = res.dataIn;
      if (data !== undefined && def.direction === DataDirection.In && !def.blockSized) {
        // SPC-4 §4.2.5.6: never more than the allocation length.
        const max = def.transferLength(cdb, 0);
        if (data.length > max) res = { status: res.status, dataIn: data.subarray(0, max) };
      }
      return res;
    } catch (err) {
      return this.failed(err, lu, def, req);
    }
  }

  /** Reserved bits (from the usage bitmap) and the CONTROL byte (SAM-5 §5.2, SPC-4 §4.3.3). */
  private checkCdb(def: CommandDef, cdb: Buffer): void {
    const mask = this.index.masks.get(def) as Uint8Array;
    const last = def.cdbLength - 1;
    for (let i = 1; i < last; i++) {
      const bad = cdb[i] & ~mask[i] & 0xff;
      if (bad !== 0) throw invalidFieldInCdb(i, 31 - Math.clz32(bad));
    }
    // CONTROL: NACA (bit 2) - ACA is not supported; LINK (bit 0) - obsolete linked commands.
    const control = cdb[last];
    if (control & 0x04) throw invalidFieldInCdb(last, 2);
    if (control & 0x01) throw invalidFieldInCdb(last, 0);
  }

  private failed(err: unknown, lu: LogicalUnit | null, def: CommandDef | undefined, req: ScsiRequest): ScsiResponse {
    const descriptor = lu ? lu.mode.dSense : false;
    if (err instanceof CheckCondition) {
      const d = err.detail;
      return {
        status: ScsiStatus.CheckCondition,
        sense: encodeSense({ key: err.senseKey, asc: err.asc, ascq: err.ascq, field: d.field, information: d.information, commandSpecific: d.commandSpecific }, descriptor),
      };
    }
    // A store failure: MEDIUM ERROR for medium access (SBC-3 §4.12), otherwise HARDWARE ERROR.
    this.log('error', 'SCSI command failed', {
      target: this.targetIqn,
      lun: req.lun,
      command: def ? def.name : `opcode 0x${req.cdb[0].toString(16)}`,
      error: err instanceof Error ? err.message : String(err),
    });
    let key: number = SenseKey.HARDWARE_ERROR;
    let code: number = Asc.INTERNAL_TARGET_FAILURE;
    if (def && def.io === 'read') {
      key = SenseKey.MEDIUM_ERROR;
      code = Asc.UNRECOVERED_READ_ERROR;
    } else if (def && def.io === 'write') {
      key = SenseKey.MEDIUM_ERROR;
      code = Asc.WRITE_ERROR;
    }
    return { status: ScsiStatus.CheckCondition, sense: encodeSense({ key, asc: code >> 8, ascq: code & 0xff }, descriptor) };
  }
}
