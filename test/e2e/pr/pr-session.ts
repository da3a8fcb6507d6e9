/**
 * The TypeScript test initiator (test/helpers/initiator.ts) over real TCP,
 * with PERSISTENT RESERVE IN/OUT helpers, for the e2e tests of persistent
 * reservations against the real daemon.
 */
import { TestInitiator, cdb } from '../../helpers/initiator.js';
import { clearUnitAttentions, loginTestInitiator } from '../lib/login.js';
import { IN, basicParams, decodeFullStatus, decodeReadKeys, decodeReadReservation, prinCdb, proutCdb, type BasicParams } from '../../scsi/pr/pr-codec.js';

export interface PrSession {
  ini: TestInitiator;
  name: string;
  /** PERSISTENT RESERVE OUT; returns the SCSI status (and sense). */
  prout(sa: number, type: number, p: BasicParams): Promise<{ status: number; sense?: Buffer }>;
  /** PERSISTENT RESERVE IN parameter data (throws unless GOOD). */
  prin(sa: number): Promise<Buffer>;
  fullStatus(): Promise<ReturnType<typeof decodeFullStatus> & { raw: Buffer }>;
  keys(): Promise<ReturnType<typeof decodeReadKeys>>;
  reservation(): Promise<ReturnType<typeof decodeReadReservation>>;
  write(lba: number, fill: number): Promise<number>;
  read(lba: number): Promise<{ status: number; data: Buffer }>;
  close(): Promise<void>;
}

/** Log in to `iqn` at 127.0.0.1:`port` as `name` (ISID ends in `isid`) and consume the POWER ON unit attention. */
export async function prSession(port: number, iqn: string, name: string, isid = 1): Promise<PrSession> {
  const ini = await loginTestInitiator(port, { targetName: iqn, initiatorName: name, isid: Buffer.from([0x80, 0x00, 0x00, 0x00, 0x00, isid]) });
  // Unit attentions (POWER ON, and any other queued) until GOOD.
  await clearUnitAttentions(ini);
  const s: PrSession = {
    ini,
    name,
    async prout(sa, type, p) {
      const data = basicParams(p);
      const res = await ini.command({ cdb: proutCdb(sa, type, data.length), dataOut: data });
      return { status: res.status, sense: res.sense };
    },
    async prin(sa) {
      const res = await ini.command({ cdb: prinCdb(sa, 8192), readLength: 8192 });
      if (res.status !== 0) throw new Error(`PERSISTENT RESERVE IN ${sa} from ${name}: status ${res.status} sense ${res.sense?.toString('hex')}`);
      return res.dataIn;
    },
    async fullStatus() {
      const raw = await s.prin(IN.READ_FULL_STATUS);
      return { ...decodeFullStatus(raw), raw: Buffer.from(raw) };
    },
    keys: async () => decodeReadKeys(await s.prin(IN.READ_KEYS)),
    reservation: async () => decodeReadReservation(await s.prin(IN.READ_RESERVATION)),
    async write(lba, fill) {
      return (await ini.command({ cdb: cdb.write10(lba, 1), dataOut: Buffer.alloc(512, fill) })).status;
    },
    async read(lba) {
      const res = await ini.command({ cdb: cdb.read10(lba, 1), readLength: 512 });
      return { status: res.status, data: res.dataIn };
    },
    async close() {
      if (!ini.closed) await ini.logout().catch(() => undefined);
      ini.close();
    },
  };
  return s;
}
