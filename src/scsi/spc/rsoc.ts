/**
 * REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35), generated from the command
 * table: REPORTING OPTIONS 000b (all commands, §6.35.2), 001b (one operation
 * code without service actions), 010b (operation code + service action) and
 * 011b (either), each with the command timeouts descriptor when RCTD = 1
 * (§6.35.4).
 */
import type { CommandContext, CommandDef } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { putU16, putU32, u16, u32 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';

export const rsocAllocationLength = (cdb: Buffer): number => u32(cdb, 6);

const TIMEOUTS_LENGTH = 12;

/** SPC-4 §6.35.4: command timeouts descriptor. */
function writeTimeouts(out: Buffer, o: number, def: CommandDef): void {
  putU16(out, o, 0x0a); // DESCRIPTOR LENGTH
  putU32(out, o + 4, def.timeouts[0]); // NOMINAL COMMAND PROCESSING TIMEOUT
  putU32(out, o + 8, def.timeouts[1]); // RECOMMENDED COMMAND TIMEOUT
}

function hasServiceActions(commands: readonly CommandDef[], opcode: number): boolean {
  return commands.some((c) => c.opcode === opcode && c.serviceAction !== undefined);
}

/** SPC-4 §6.35.2: all_commands parameter data. */
export function allCommands(commands: readonly CommandDef[], rctd: boolean): Buffer {
  const sorted = [...commands].sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0));
  const per = 8 + (rctd ? TIMEOUTS_LENGTH : 0);
  const out = Buffer.alloc(4 + per * sorted.length);
  putU32(out, 0, per * sorted.length); // COMMAND DATA LENGTH
  let o = 4;
  for (const c of sorted) {
    out[o] = c.opcode;
    if (c.serviceAction !== undefined) putU16(out, o + 2, c.serviceAction);
    out[o + 5] = (rctd ? 0x02 : 0) | (c.serviceAction !== undefined ? 0x01 : 0); // CTDP, SERVACTV
    putU16(out, o + 6, c.cdbLength);
    if (rctd) writeTimeouts(out, o + 8, c);
    o += per;
  }
  return out;
}

/** SPC-4 §6.35.3: one_command parameter data; `def` undefined reports SUPPORT = 001b (not supported). */
export function oneCommand(def: CommandDef | undefined, rctd: boolean): Buffer {
  if (!def) {
    const out = Buffer.alloc(4);
    out[1] = 0x01;
    return out;
  }
  const n = def.cdbLength;
  const out = Buffer.alloc(4 + n + (rctd ? TIMEOUTS_LENGTH : 0));
  out[1] = (rctd ? 0x80 : 0) | 0x03; // CTDP, SUPPORT 011b: supported as the standard defines
  putU16(out, 2, n); // CDB SIZE
  for (let i = 0; i < n; i++) out[4 + i] = def.usage[i];
  if (rctd) writeTimeouts(out, 4 + n, def);
  return out;
}

export function validateRsoc(cdb: Buffer): void {
  if ((cdb[2] & 0x07) > 0x03) throw invalidFieldInCdb(2, 2);
}

export function reportSupportedOperationCodes(ctx: CommandContext): ScsiResponse {
  const cdb = ctx.cdb;
  const commands = ctx.device.commands;
  const rctd = (cdb[2] & 0x80) !== 0;
  const options = cdb[2] & 0x07;
  const opcode = cdb[3];
  const sa = u16(cdb, 4);
  if (options === 0x00) return { status: 0, dataIn: allCommands(commands, rctd) };
  const withSa = hasServiceActions(commands, opcode);
  if (options === 0x01 || (options === 0x03 && !withSa)) {
    // 001b on an operation code with service actions is an error (SPC-4 §6.35.1, table 257).
    if (withSa) throw invalidFieldInCdb(3, 7);
    return { status: 0, dataIn: oneCommand(commands.find((c) => c.opcode === opcode), rctd) };
  }
  // 010b, or 011b on an operation code with service actions.
  if (!withSa) {
    if (options === 0x02) {
      const exists = commands.some((c) => c.opcode === opcode);
      if (exists) throw invalidFieldInCdb(3, 7);
      return { status: 0, dataIn: oneCommand(undefined, rctd) };
    }
  }
  return {
    status: 0,
    dataIn: oneCommand(
      commands.find((c) => c.opcode === opcode && c.serviceAction === sa),
      rctd,
    ),
  };
}
