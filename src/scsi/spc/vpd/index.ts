/**
 * The VPD pages of a logical unit (SPC-4 §7.8, SBC-3 §6.5), ascending page code.
 */
import type { LuContext } from '../../command.js';
import type { VpdPage } from './page.js';
import { supportedPagesPage } from './supported-pages.js';
import { UNIT_SERIAL_NUMBER } from './unit-serial-number.js';
import { DEVICE_IDENTIFICATION } from './device-identification.js';
import { EXTENDED_INQUIRY } from './extended-inquiry.js';
import { THIRD_PARTY_COPY } from './third-party-copy.js';
import { BLOCK_LIMITS } from './block-limits.js';
import { BLOCK_DEVICE_CHARACTERISTICS } from './block-device-characteristics.js';
import { LOGICAL_BLOCK_PROVISIONING } from './logical-block-provisioning.js';

const SUPPORTED_PAGES: VpdPage = {
  code: 0x00,
  name: 'supported vpd pages',
  build: () => supportedPagesPage(VPD_PAGES.map((p) => p.code)),
};

export const VPD_PAGES: readonly VpdPage[] = [
  SUPPORTED_PAGES,
  UNIT_SERIAL_NUMBER,
  DEVICE_IDENTIFICATION,
  EXTENDED_INQUIRY,
  THIRD_PARTY_COPY,
  BLOCK_LIMITS,
  BLOCK_DEVICE_CHARACTERISTICS,
  LOGICAL_BLOCK_PROVISIONING,
];

export function buildVpdPage(code: number, ctx: LuContext): Buffer | undefined {
  for (const p of VPD_PAGES) if (p.code === code) return p.build(ctx);
  return undefined;
}
