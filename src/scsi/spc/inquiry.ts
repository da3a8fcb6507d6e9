/**
 * INQUIRY (SPC-4 §6.6): standard data (§6.6.2) and VPD pages (§7.8).
 * Processed for any LUN: a LUN that does not exist gets standard data with
 * PERIPHERAL QUALIFIER 011b / DEVICE TYPE 1Fh (SPC-4 §6.6.2, table 141).
 */
import type { CommandContext, LuContext } from '../command.js';
import { invalidFieldInCdb, luNotSupported } from '../check-condition.js';
import { putAscii, u16 } from '../cdb.js';
import { PRODUCT_ID, PRODUCT_REVISION, SPC4_VERSION, VENDOR_ID, VersionDescriptor } from '../constants.js';
import type { ScsiResponse } from '../types.js';
import { buildVpdPage } from './vpd/index.js';

export const inquiryAllocationLength = (cdb: Buffer): number => u16(cdb, 3);

const STANDARD_LENGTH = 96;

/** SPC-4 §6.6.2, table 140. */
export function standardInquiry(present: boolean, multiPort: boolean, explicitAlua = false): Buffer {
  const b = Buffer.alloc(STANDARD_LENGTH);
  b[0] = present ? 0x00 : 0x7f; // qualifier 000b / type 00h (direct access), or 011b / 1Fh
  b[1] = 0x00; // RMB = 0: not removable
  b[2] = SPC4_VERSION;
  b[3] = 0x12; // NORMACA = 0, HISUP = 1, RESPONSE DATA FORMAT = 2
  b[4] = STANDARD_LENGTH - 5; // ADDITIONAL LENGTH
  // TPGS (SPC-4 §6.6.2, §5.15): 01b implicit ALUA (REPORT TARGET PORT GROUPS), or
  // 11b implicit and explicit (SET TARGET PORT GROUPS too) when the target offers it (alua.ts).
  b[5] = explicitAlua ? 0x30 : 0x10;
  b[5] |= 0x08; // 3PC: third-party copy, EXTENDED COPY (LID1) (spc/extended-copy.ts)
  b[6] = multiPort ? 0x10 : 0x00; // MULTIP
  b[7] = 0x02; // CMDQUE = 1
  putAscii(b, 8, 8, VENDOR_ID);
  putAscii(b, 16, 16, PRODUCT_ID);
  putAscii(b, 32, 4, PRODUCT_REVISION);
  // Bytes 58-73: version descriptors (SAM-5, iSCSI, SPC-4, SBC-3).
  const versions = [VersionDescriptor.SAM_5, VersionDescriptor.ISCSI, VersionDescriptor.SPC_4, VersionDescriptor.SBC_3];
  versions.forEach((v, i) => b.writeUInt16BE(v, 58 + 2 * i));
  return b;
}

export function validateInquiry(cdb: Buffer): void {
  // SPC-4 §6.6.1: PAGE CODE must be zero when EVPD is zero.
  if ((cdb[1] & 0x01) === 0 && cdb[2] !== 0) throw invalidFieldInCdb(2, 7);
}

export function inquiry(ctx: CommandContext): ScsiResponse {
  const cdb = ctx.cdb;
  const lu = ctx.lu;
  if ((cdb[1] & 0x01) === 0) {
    return { status: 0, dataIn: standardInquiry(lu !== null, ctx.device.ports().length > 1, ctx.device.alua.explicit === true) };
  }
  if (!lu) throw luNotSupported();
  const page = buildVpdPage(cdb[2], ctx as LuContext);
  if (!page) throw invalidFieldInCdb(2, 7);
  return { status: 0, dataIn: page };
}
