/**
 * PDU codec micro-benchmark: the hot-path PDUs of the target (RFC 7143 §11),
 * decoded or encoded N times each, in one process.
 *
 *   npm run build && node dist/tools/bench/pdu-codec-bench.js [--count N] [--repeat R] [--only TEXT]
 *
 * Decode: SCSI Command (§11.3) and Data-Out (§11.7) from a prepared BHS.
 * Encode: Data-In (§11.7), R2T (§11.8) and SCSI Response (§11.4) BHS into a
 * reused buffer (encodeBhsInto), so allocation does not dominate.
 * Each row is the best of R runs (default 5) of N operations (default 1e6),
 * after a warm-up run; ns/op is wall time over N. `--only TEXT` runs the rows
 * whose name contains TEXT (e.g. `--only decode`).
 */
import { decodePdu } from '../../src/target/pdu/decode.js';
import { encodeBhsInto } from '../../src/target/pdu/encode.js';
import { encodeLun } from '../../src/target/pdu/lun.js';
import { Opcode, type DataInPdu, type Pdu, type R2TPdu, type ScsiResponsePdu } from '../../src/target/pdu/types.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const COUNT = option('--count', 1e6);
const REPEAT = option('--repeat', 5);
const EMPTY = Buffer.alloc(0);
let sink = 0;

function scsiCommandBhs(): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = Opcode.ScsiCommand;
  bhs[1] = 0x80 | 0x40 | 0x01; // F, R, simple
  encodeLun(3).copy(bhs, 8);
  bhs.writeUInt32BE(0x1234, 16);
  bhs.writeUInt32BE(4096, 20);
  bhs.writeUInt32BE(77, 24);
  bhs.writeUInt32BE(66, 28);
  bhs[32] = 0x28; // READ(10)
  return bhs;
}

function dataOutBhs(): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = Opcode.DataOut;
  bhs[1] = 0x80;
  encodeLun(3).copy(bhs, 8);
  bhs.writeUInt32BE(0x1234, 16);
  bhs.writeUInt32BE(0x55, 20);
  bhs.writeUInt32BE(66, 28);
  bhs.writeUInt32BE(2, 36);
  bhs.writeUInt32BE(8192, 40);
  return bhs;
}

const lunField = encodeLun(3);

const dataIn: DataInPdu = {
  opcode: Opcode.DataIn,
  final: true,
  acknowledge: false,
  residualOverflow: false,
  residualUnderflow: false,
  statusPresent: true,
  status: 0,
  lun: 3,
  lunField,
  initiatorTaskTag: 0x1234,
  targetTransferTag: 0xffffffff,
  statSN: 10,
  expCmdSN: 11,
  maxCmdSN: 42,
  dataSN: 0,
  bufferOffset: 0,
  residualCount: 0,
  ahs: [],
  data: Buffer.alloc(4096),
};

const r2t: R2TPdu = {
  opcode: Opcode.R2T,
  lun: 3,
  lunField,
  initiatorTaskTag: 0x1234,
  targetTransferTag: 0x55,
  statSN: 10,
  expCmdSN: 11,
  maxCmdSN: 42,
  r2tSN: 1,
  bufferOffset: 8192,
  desiredDataTransferLength: 65536,
  ahs: [],
  data: EMPTY,
};

const scsiResponse: ScsiResponsePdu = {
  opcode: Opcode.ScsiResponse,
  bidiReadResidualOverflow: false,
  bidiReadResidualUnderflow: false,
  residualOverflow: false,
  residualUnderflow: false,
  response: 0,
  status: 0,
  initiatorTaskTag: 0x1234,
  snackTag: 0,
  statSN: 10,
  expCmdSN: 11,
  maxCmdSN: 42,
  expDataSN: 1,
  bidiReadResidualCount: 0,
  residualCount: 0,
  ahs: [],
  data: EMPTY,
};

function benchDecode(bhs: Buffer): () => void {
  const data = EMPTY;
  return () => {
    for (let i = 0; i < COUNT; i++) {
      bhs.writeUInt32BE(i, 16); // vary the tag so nothing is hoisted
      const pdu = decodePdu(bhs, EMPTY, data);
      sink += pdu.opcode;
    }
  };
}

function benchEncode(pdu: Pdu & { initiatorTaskTag: number }): () => void {
  const buf = Buffer.allocUnsafe(48);
  return () => {
    for (let i = 0; i < COUNT; i++) {
      pdu.initiatorTaskTag = i;
      encodeBhsInto(pdu, buf, 0);
      sink += buf[19];
    }
  };
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : '';
const allCases: [string, () => void][] = [
  ['decode SCSI Command', benchDecode(scsiCommandBhs())],
  ['decode Data-Out', benchDecode(dataOutBhs())],
  ['encode Data-In', benchEncode(dataIn)],
  ['encode R2T', benchEncode(r2t)],
  ['encode SCSI Response', benchEncode(scsiResponse)],
];
const cases = allCases.filter(([name]) => name.includes(only));

for (const [, run] of cases) run(); // warm-up: let the JIT settle on every shape first
for (const [name, run] of cases) {
  let best = Infinity;
  for (let r = 0; r < REPEAT; r++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  console.log(`${name.padEnd(22)} ${(best / COUNT).toFixed(1).padStart(7)} ns/op  (${COUNT} ops, best of ${REPEAT})`);
}
if (sink === 0.5) console.log('unreachable');
