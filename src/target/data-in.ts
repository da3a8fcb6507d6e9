/**
 * Deliver a command's result: Data-In PDUs within the initiator's
 * MaxRecvDataSegmentLength and MaxBurstLength, residuals, and status either
 * collapsed into the last Data-In or in a SCSI Response (RFC 7143 §10.4, §10.7,
 * §11.4, §11.7).
 */
import { Opcode } from './pdu/types.js';
import type { ScsiTask } from './scsi-task.js';
import { ScsiStatus, DataDirection, type ScsiResponse } from '../scsi/types.js';
import type { SessionHost } from './session.js';

interface SnSource {
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly params: { initiatorMaxRecvDataSegmentLength: number; maxBurstLength: number };
}

export interface Residuals {
  overflow: boolean;
  underflow: boolean;
  count: number;
}

/**
 * RFC 7143 §11.4.5: residuals compare the iSCSI Expected Data Transfer Length
 * with the SCSI layer's transfer length (SPDTL): what the CDB moves in the
 * command's data direction.
 */
export function computeResiduals(edtl: number, spdtl: number): Residuals {
  if (spdtl > edtl) return { overflow: true, underflow: false, count: spdtl - edtl };
  if (spdtl < edtl) return { overflow: false, underflow: true, count: edtl - spdtl };
  return { overflow: false, underflow: false, count: 0 };
}

export function sendDataInAndStatus(sn: SnSource, task: ScsiTask, response: ScsiResponse, host: SessionHost): void {
  const pdu = task.pdu;
  const edtl = pdu.expectedDataTransferLength;
  let residuals: Residuals;
  let dataIn = response.dataIn;
  if (dataIn && dataIn.length > 0 && pdu.read) {
    residuals = computeResiduals(edtl, dataIn.length);
    if (dataIn.length > edtl) dataIn = dataIn.subarray(0, edtl);
  } else if (dataIn && dataIn.length > 0) {
    // Data-In for a command without the R bit: nothing may be sent (EDTL for reads is 0).
    residuals = computeResiduals(0, dataIn.length);
    dataIn = undefined;
  } else if (pdu.write || task.shape.direction === DataDirection.Out) {
    const spdtl = task.shape.direction === DataDirection.Out ? task.shape.transferLength ?? 0 : 0;
    residuals = computeResiduals(pdu.write ? edtl : 0, spdtl);
  } else {
    residuals = computeResiduals(pdu.read ? edtl : 0, 0);
  }

  const status = response.status;
  const collapse = dataIn !== undefined && dataIn.length > 0 && status === ScsiStatus.Good && !response.sense;
  let dataSN = 0;
  if (dataIn && dataIn.length > 0) {
    const maxSeg = sn.params.initiatorMaxRecvDataSegmentLength;
    const maxBurst = sn.params.maxBurstLength;
    const total = dataIn.length;
    let offset = 0;
    while (offset < total) {
      // A Data-In sequence never crosses a MaxBurstLength boundary (RFC 7143 §13.13).
      const burstEnd = Math.min(total, (Math.floor(offset / maxBurst) + 1) * maxBurst);
      const len = Math.min(maxSeg, burstEnd - offset);
      const last = offset + len >= total;
      const endOfSequence = last || offset + len >= burstEnd;
      const withStatus = last && collapse;
      host.send(
        {
          opcode: Opcode.DataIn,
          final: endOfSequence,
          acknowledge: false,
          residualOverflow: withStatus && residuals.overflow,
          residualUnderflow: withStatus && residuals.underflow,
          statusPresent: withStatus,
          status: withStatus ? status : 0,
          lun: task.lun,
          lunField: task.pdu.lunField,
          initiatorTaskTag: task.itt,
          targetTransferTag: 0xffffffff,
          statSN: 0,
          expCmdSN: sn.expCmdSN,
          maxCmdSN: sn.maxCmdSN,
          dataSN: dataSN++,
          bufferOffset: offset,
          residualCount: withStatus ? residuals.count : 0,
          ahs: [],
          data: dataIn.subarray(offset, offset + len),
        },
        withStatus,
      );
      offset += len;
    }
    if (collapse) return;
  }
  const sense = response.sense;
  let data = EMPTY;
  if (sense && sense.length > 0) {
    // RFC 7143 §11.4.7: SenseLength (2 bytes) followed by the sense data.
    data = Buffer.allocUnsafe(2 + sense.length);
    data.writeUInt16BE(sense.length, 0);
    sense.copy(data, 2);
  }
  host.send(
    {
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: residuals.overflow,
      residualUnderflow: residuals.underflow,
      response: 0,
      status,
      initiatorTaskTag: task.itt,
      snackTag: 0,
      statSN: 0,
      expCmdSN: sn.expCmdSN,
      maxCmdSN: sn.maxCmdSN,
      // RFC 7143 §11.4.8: number of Data-In (reads) or R2T (writes) PDUs sent for the command.
      expDataSN: pdu.write && dataSN === 0 ? task.nextR2TSN : dataSN,
      bidiReadResidualCount: 0,
      residualCount: residuals.count,
      ahs: [],
      data,
    },
    true,
  );
}

const EMPTY = Buffer.alloc(0);
