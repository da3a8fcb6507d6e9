/**
 * Third-party Copy (8Fh), SPC-4 §7.8.17: what the copy manager of
 * EXTENDED COPY (LID1) offers (spc/extended-copy.ts). Third-party copy
 * descriptors, each a 2-byte TYPE, a 2-byte LENGTH (bytes that follow) and
 * its parameters, padded to a multiple of four bytes:
 *  - 0001h Supported Commands: each third-party copy command with its
 *    service actions, generated from the command table (83h, 84h);
 *  - 0004h Parameter Data: MAXIMUM CSCD DESCRIPTOR COUNT, MAXIMUM SEGMENT
 *    DESCRIPTOR COUNT, MAXIMUM DESCRIPTOR LIST LENGTH, MAXIMUM INLINE DATA
 *    LENGTH;
 *  - 0008h Supported Descriptors: segment and CSCD descriptor type codes;
 *  - 8001h General Copy Operations: TOTAL CONCURRENT COPIES, MAXIMUM
 *    IDENTIFIED CONCURRENT COPIES, MAXIMUM SEGMENT LENGTH, DATA SEGMENT
 *    GRANULARITY, INLINE DATA GRANULARITY.
 * The same numbers as RECEIVE COPY RESULTS OPERATING PARAMETERS
 * (extended-copy-manager.ts XCOPY_LIMITS). No ROD descriptors: token copy
 * (POPULATE TOKEN / WRITE USING TOKEN) is not offered.
 */
import { putU16, putU32 } from '../../cdb.js';
import type { CommandDef } from '../../command.js';
import { XCOPY_LIMITS } from '../extended-copy-manager.js';
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

/** THIRD-PARTY COPY OUT and THIRD-PARTY COPY IN. */
const COPY_OPCODES = [0x83, 0x84];

/** A descriptor of `payload` parameter bytes (after the 4-byte header), padded to a multiple of 4. */
function descriptor(type: number, payload: Buffer): Buffer {
  const len = (payload.length + 3) & ~3;
  const d = Buffer.alloc(4 + len);
  putU16(d, 0, type);
  putU16(d, 2, len);
  payload.copy(d, 4);
  return d;
}

function supportedCommands(commands: readonly CommandDef[]): Buffer {
  const list: number[] = [];
  for (const op of COPY_OPCODES) {
    const sas = commands.filter((c) => c.opcode === op && c.serviceAction !== undefined).map((c) => c.serviceAction as number);
    if (sas.length === 0) continue;
    sas.sort((a, b) => a - b);
    list.push(op, sas.length, ...sas); // OPERATION CODE, SERVICE ACTION LIST LENGTH, SUPPORTED SERVICE ACTIONs
  }
  return descriptor(0x0001, Buffer.from([list.length, ...list])); // COMMANDS SUPPORTED LIST LENGTH
}

function parameterData(): Buffer {
  const p = Buffer.alloc(28);
  // 0-3 (bytes 4-7 of the descriptor) reserved.
  putU16(p, 4, XCOPY_LIMITS.maxCscdDescriptors); // MAXIMUM CSCD DESCRIPTOR COUNT
  putU16(p, 6, XCOPY_LIMITS.maxSegmentDescriptors); // MAXIMUM SEGMENT DESCRIPTOR COUNT
  putU32(p, 8, XCOPY_LIMITS.maxDescriptorListLength); // MAXIMUM DESCRIPTOR LIST LENGTH
  putU32(p, 12, XCOPY_LIMITS.maxInlineDataLength); // MAXIMUM INLINE DATA LENGTH
  return descriptor(0x0004, p);
}

function supportedDescriptors(): Buffer {
  const t = XCOPY_LIMITS.descriptorTypes;
  return descriptor(0x0008, Buffer.from([t.length, ...t])); // SUPPORTED DESCRIPTOR LIST LENGTH, type codes
}

function generalCopyOperations(blockSize: number): Buffer {
  const p = Buffer.alloc(32);
  putU32(p, 0, XCOPY_LIMITS.maxConcurrentCopies); // TOTAL CONCURRENT COPIES
  putU32(p, 4, XCOPY_LIMITS.maxConcurrentCopies); // MAXIMUM IDENTIFIED CONCURRENT COPIES
  putU32(p, 8, XCOPY_LIMITS.maxSegmentBytes); // MAXIMUM SEGMENT LENGTH
  p[12] = Math.log2(blockSize); // DATA SEGMENT GRANULARITY (log2 bytes)
  p[13] = 0; // INLINE DATA GRANULARITY
  return descriptor(0x8001, p);
}

export const THIRD_PARTY_COPY: VpdPage = {
  code: 0x8f,
  name: 'third-party copy',
  build(ctx) {
    const payload = Buffer.concat([supportedCommands(ctx.device.commands), parameterData(), supportedDescriptors(), generalCopyOperations(ctx.lu.blockSize)]);
    const b = vpdPage(0x8f, payload.length);
    payload.copy(b, 4);
    return b;
  },
};
