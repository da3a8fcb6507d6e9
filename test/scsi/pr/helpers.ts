/**
 * A target device with two target ports, in-memory persistence that
 * records saves, and a recorded abort hook, for the persistent reservation
 * unit tests.
 */
import { ScsiTargetDevice } from '../../../src/scsi/scsi-target-device.js';
import { MemoryPrPersistence, type PrPersistence } from '../../../src/scsi/persistent-reservations/index.js';
import type { ItNexus, ScsiResponse } from '../../../src/scsi/types.js';
import { IQN, PORT1, PORT2, cdb, lunDef, nexus as mkNexus, padCdb, senseOf } from '../helpers.js';
import { IN, basicParams, decodeFullStatus, decodeReadKeys, decodeReadReservation, prinCdb, proutCdb, SA, type BasicParams } from './pr-codec.js';

export { PORT1, PORT2 };

export interface PrHarness {
  dev: ScsiTargetDevice;
  persistence: MemoryPrPersistence;
  aborts: Array<{ ids: string[]; lun: number }>;
  /** Log in I_T nexus `n` (initiator host<n>) through `port`; its POWER ON unit attention is consumed. */
  login(n: number, port?: typeof PORT1): Promise<ItNexus>;
  run(nx: ItNexus, c: number[] | Buffer, data?: Buffer, lun?: number): Promise<ScsiResponse>;
  prin(nx: ItNexus, sa: number, alloc?: number): Promise<ScsiResponse>;
  prout(nx: ItNexus, sa: number, type: number, params: Buffer | BasicParams, o?: { scope?: number; plen?: number; lun?: number }): Promise<ScsiResponse>;
  /** REGISTER AND IGNORE EXISTING KEY, expecting GOOD. */
  register(nx: ItNexus, key: bigint, p?: BasicParams): Promise<void>;
  /** RESERVE, expecting GOOD. */
  reserve(nx: ItNexus, key: bigint, type: number): Promise<void>;
  keys(nx: ItNexus): Promise<ReturnType<typeof decodeReadKeys>>;
  reservation(nx: ItNexus): Promise<ReturnType<typeof decodeReadReservation>>;
  fullStatus(nx: ItNexus): Promise<ReturnType<typeof decodeFullStatus>>;
  /** The unit attention a TEST UNIT READY reports now (`ASC << 8 | ASCQ`), or 0 for GOOD. */
  ua(nx: ItNexus): Promise<number>;
}

/** `persistence`: default a fresh MemoryPrPersistence (h.persistence is only a MemoryPrPersistence if one was given). */
export async function prHarness(opts: { persistence?: PrPersistence; luns?: number } = {}): Promise<PrHarness> {
  const persistence = (opts.persistence ?? new MemoryPrPersistence()) as MemoryPrPersistence;
  const aborts: Array<{ ids: string[]; lun: number }> = [];
  const luns = Array.from({ length: opts.luns ?? 1 }, (_, i) => lunDef(i, 1024 * 1024));
  const dev = new ScsiTargetDevice({
    targetIqn: IQN,
    luns,
    ports: [PORT1, PORT2],
    persistentReservations: persistence,
    abortTasks: async (ids, lun) => {
      aborts.push({ ids: [...ids].sort(), lun });
    },
  });
  const run = (nx: ItNexus, c: number[] | Buffer, data?: Buffer, lun = 0) =>
    dev.execute({ lun, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 1 << 20 });
  const ok = (r: ScsiResponse, what: string) => {
    if (r.status !== 0) throw new Error(`${what}: status ${r.status}${r.status === 2 ? ` sense ${JSON.stringify(senseOf(r))}` : ''}`);
    return r;
  };
  const h: PrHarness = {
    dev,
    persistence,
    aborts,
    async login(n, port = PORT1) {
      const nx = mkNexus(n, port);
      dev.nexusAdded(nx);
      for (let i = 0; i < luns.length; i++) await run(nx, cdb.tur(), undefined, i);
      return nx;
    },
    run,
    prin: (nx, sa, alloc = 8192) => run(nx, prinCdb(sa, alloc)),
    prout(nx, sa, type, params, o = {}) {
      const data = Buffer.isBuffer(params) ? params : basicParams(params);
      return run(nx, proutCdb(sa, type, o.plen ?? data.length, o.scope ?? 0), data, o.lun ?? 0);
    },
    async register(nx, key, p = {}) {
      ok(await h.prout(nx, SA.REGISTER_AND_IGNORE, 0, { ...p, sark: key }), 'REGISTER AND IGNORE EXISTING KEY');
    },
    async reserve(nx, key, type) {
      ok(await h.prout(nx, SA.RESERVE, type, { rk: key }), 'RESERVE');
    },
    keys: async (nx) => decodeReadKeys(ok(await h.prin(nx, IN.READ_KEYS), 'READ KEYS').dataIn!),
    reservation: async (nx) => decodeReadReservation(ok(await h.prin(nx, IN.READ_RESERVATION), 'READ RESERVATION').dataIn!),
    fullStatus: async (nx) => decodeFullStatus(ok(await h.prin(nx, IN.READ_FULL_STATUS), 'READ FULL STATUS').dataIn!),
    async ua(nx) {
      const r = await run(nx, cdb.tur());
      if (r.status === 0) return 0;
      const s = senseOf(r);
      if (s.key !== 6) throw new Error(`TEST UNIT READY: sense key ${s.key}`);
      return (s.asc << 8) | s.ascq;
    },
  };
  return h;
}

/**
 * prHarness() with initiators 1..keys.length logged in through PORT1, initiator i + 1
 * registered with keys[i] (in that order); with `reserve`, initiator 1 then holds a
 * reservation of that type.
 */
export async function registered(keys: bigint[], reserve?: number): Promise<{ h: PrHarness; nx: ItNexus[] }> {
  const h = await prHarness();
  const nx: ItNexus[] = [];
  for (let i = 0; i < keys.length; i++) nx.push(await h.login(i + 1));
  for (let i = 0; i < keys.length; i++) await h.register(nx[i]!, keys[i]!);
  if (reserve !== undefined) await h.reserve(nx[0]!, keys[0]!, reserve);
  return { h, nx };
}

export const UA = {
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
} as const;

export const RESERVATION_CONFLICT = 0x18;

/** Initiator port name of test nexus n (test/scsi/helpers.ts nexus()). */
export function portName(n: number): string {
  return `iqn.1994-05.com.example:host${n},i,0x40000000000${n}`;
}
