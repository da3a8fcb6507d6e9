/**
 * Asymmetric logical unit access (SPC-4 §5.15). Placeholder: every target
 * port group is active/optimized. The dispatcher consults the hook so a later
 * ALUA implementation can refuse commands in standby/unavailable states
 * (SPC-4 §5.15.2.4: NOT READY, LOGICAL UNIT NOT ACCESSIBLE, ...).
 */
import type { ItNexus } from './types.js';
import type { CommandDef } from './command.js';
import type { LogicalUnit } from './logical-unit.js';
import type { CheckCondition } from './check-condition.js';

/** Asymmetric access states (SPC-4 §6.27, table 172). */
export const AluaState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LBA_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;

export interface AluaHook {
  /** Access state of a target port group for a logical unit. */
  state(lu: LogicalUnit | null, portGroupId: number): number;
  /** A CheckCondition to end the command with, or undefined to proceed. */
  check(lu: LogicalUnit, nexus: ItNexus, def: CommandDef): CheckCondition | undefined;
}

export const ALL_ACTIVE_OPTIMIZED: AluaHook = {
  state: () => AluaState.ACTIVE_OPTIMIZED,
  check: () => undefined,
};
