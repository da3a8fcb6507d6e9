/**
 * Device Identification (83h), SPC-4 §7.8.6. Designators:
 *  1. NAA IEEE Registered Extended (NAA 6h), association: logical unit
 *     (SPC-4 §7.8.6.6.5) - the LUN's stable identity (DESIGN.md §5);
 *  2. relative target port identifier, association: target port (§7.8.6.7);
 *  3. target port group, association: target port (§7.8.6.8);
 *  4. SCSI name string of the target port, "<IQN>,t,0x<TPGT>" (§7.8.6.11,
 *     iSCSI target port name of RFC 7143), association: target port;
 *  5. SCSI name string of the SCSI target device (the IQN), association:
 *     target device.
 * Target-port designators describe the port the command arrived through and
 * carry PIV = 1 with PROTOCOL IDENTIFIER 5h (iSCSI).
 */
import { PROTOCOL_ID_ISCSI } from '../../constants.js';
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

const CODE_SET_BINARY = 0x1;
const CODE_SET_UTF8 = 0x3;
const ASSOC_LU = 0x0;
const ASSOC_TARGET_PORT = 0x1;
const ASSOC_TARGET_DEVICE = 0x2;
const TYPE_NAA = 0x3;
const TYPE_RELATIVE_TARGET_PORT = 0x4;
const TYPE_TARGET_PORT_GROUP = 0x5;
const TYPE_SCSI_NAME_STRING = 0x8;

function designator(codeSet: number, assoc: number, type: number, value: Buffer, piv: boolean): Buffer {
  const d = Buffer.alloc(4 + value.length);
  d[0] = (piv ? PROTOCOL_ID_ISCSI << 4 : 0) | codeSet;
  d[1] = (piv ? 0x80 : 0) | (assoc << 4) | type;
  d[3] = value.length;
  value.copy(d, 4);
  return d;
}

/** SPC-4 §7.8.6.11: null terminated, null padded to a multiple of four bytes. */
export function scsiNameString(name: string): Buffer {
  const raw = Buffer.from(name, 'utf8');
  const len = (raw.length + 1 + 3) & ~3;
  const b = Buffer.alloc(len);
  raw.copy(b);
  return b;
}

export const DEVICE_IDENTIFICATION: VpdPage = {
  code: 0x83,
  name: 'device identification',
  build(ctx) {
    const port = ctx.nexus.targetPort;
    const rel = Buffer.alloc(4);
    rel.writeUInt16BE(port.relativePortId & 0xffff, 2);
    const tpg = Buffer.alloc(4);
    tpg.writeUInt16BE(port.portGroupId & 0xffff, 2);
    const parts = [
      designator(CODE_SET_BINARY, ASSOC_LU, TYPE_NAA, Buffer.from(ctx.lu.naa, 'hex'), false),
      designator(CODE_SET_BINARY, ASSOC_TARGET_PORT, TYPE_RELATIVE_TARGET_PORT, rel, true),
      designator(CODE_SET_BINARY, ASSOC_TARGET_PORT, TYPE_TARGET_PORT_GROUP, tpg, true),
      designator(CODE_SET_UTF8, ASSOC_TARGET_PORT, TYPE_SCSI_NAME_STRING, scsiNameString(port.name), true),
      designator(CODE_SET_UTF8, ASSOC_TARGET_DEVICE, TYPE_SCSI_NAME_STRING, scsiNameString(ctx.device.targetIqn), true),
    ];
    const payload = Buffer.concat(parts);
    const b = vpdPage(0x83, payload.length);
    payload.copy(b, 4);
    return b;
  },
};
