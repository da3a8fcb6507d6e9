/**
 * ALUA target port groups of a target record (SPC-4 §5.15, DESIGN.md §5):
 * which group each portal belongs to, and each group's access state.
 *
 * Every portal gets its own group when it is added (group ID = its stable
 * portal number, store.ts assignPortals). `portal-group` moves a portal into
 * the group of another portal of the target, or back into its own; so a
 * group ID is always some portal's number and a new portal can never land
 * in an existing group by accident. Group states live in
 * `TargetRecord.portGroups` (`alua-set`); a group without an entry is
 * active/optimized. The daemon starts targets with these states; a running
 * target is changed at once through the control API.
 */
import { ClusterError } from './errors.js';
import { assertStopped } from './store.js';
import { formatPortal, parsePortal } from './validate.js';
import type { PortalRecord, PortGroupRecord, TargetRecord } from './records.js';
import { ALUA_STATE_NAMES, parseAluaState, type AluaStateName } from '../scsi/alua.js';

export type { AluaStateName };

/** `-s STATE` as typed: active-optimized (ao), active-non-optimized (an), standby, unavailable, transitioning. */
export function parseAluaStateArg(text: string): AluaStateName {
  const s = parseAluaState(text);
  if (!s) {
    throw new ClusterError(
      'ISCSI_ERR_BAD_ALUA_STATE',
      `'${text}' is not an ALUA state: use ${ALUA_STATE_NAMES.join(', ')} (or ao, an)`,
    );
  }
  return s;
}

/** Group IDs of a target, ascending. */
export function groupIds(rec: Pick<TargetRecord, 'portals'>): number[] {
  return [...new Set(rec.portals.map((p) => p.portGroupId))].sort((a, b) => a - b);
}

/** `-g GROUP`: a number 1-65535 that is a group of the target. */
export function parseGroupArg(rec: Pick<TargetRecord, 'iqn' | 'portals'>, text: string): number {
  const ids = groupIds(rec);
  const n = /^[0-9]{1,5}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!ids.includes(n)) {
    throw new ClusterError(
      'ISCSI_ERR_GROUP_NOT_FOUND',
      `target ${rec.iqn} has no target port group '${text}'; its groups: ${ids.join(', ')} (vstorage-iscsi alua-list -t ${rec.iqn})`,
    );
  }
  return n;
}

/**
 * `-a ADDR[:PORT]`: one portal of the target. Without a port, an address
 * the target has only once matches whatever its port.
 */
export function findPortal(rec: Pick<TargetRecord, 'iqn' | 'portals'>, text: string): PortalRecord {
  const want = parsePortal(text);
  const exact = rec.portals.find((p) => p.address === want.address && p.port === want.port);
  if (exact) return exact;
  const t = text.trim();
  const portGiven = /^\[.*\]:[0-9]+$/.test(t) || /^[0-9.]+:[0-9]+$/.test(t);
  const sameAddress = rec.portals.filter((p) => p.address === want.address);
  if (!portGiven && sameAddress.length === 1) return sameAddress[0]!;
  throw new ClusterError(
    'ISCSI_ERR_PORTAL_NOT_FOUND',
    `target ${rec.iqn} has no portal ${text}; its portals: ${rec.portals.map(formatPortal).join(', ')}`,
  );
}

/** The configured state of a group. */
export function groupState(rec: Pick<TargetRecord, 'portGroups'>, id: number): AluaStateName {
  return rec.portGroups?.find((g) => g.id === id)?.state ?? 'active-optimized';
}

/** Keep one entry per existing group, ascending, dropping groups no portal is in. */
function normalize(rec: TargetRecord, entries: PortGroupRecord[]): void {
  const ids = new Set(groupIds(rec));
  rec.portGroups = entries.filter((g) => ids.has(g.id)).sort((a, b) => a.id - b.id);
}

/** `alua-set`: record a group's state; returns the previous one. */
export function setGroupState(rec: TargetRecord, id: number, state: AluaStateName): AluaStateName {
  const previous = groupState(rec, id);
  normalize(rec, [...(rec.portGroups ?? []).filter((g) => g.id !== id), { id, state }]);
  return previous;
}

/**
 * `portal-group`: move a portal into `group` (the group of another portal of
 * the target, or the portal's own number to give it a group of its own
 * again). Changes what VPD 83h and REPORT TARGET PORT GROUPS say about the
 * port, so the target must be stopped, like any portal change (source
 * 4.2.2 note 1). A group that moves out of existence forgets its state; a
 * portal that gets its own group back starts active/optimized unless the
 * group had a state.
 */
export function setPortalGroup(rec: TargetRecord, portalText: string, groupText: string): { portal: PortalRecord; from: number; to: number } {
  const portal = findPortal(rec, portalText);
  const n = /^[0-9]{1,5}$/.test(groupText.trim()) ? Number(groupText.trim()) : NaN;
  const allowed = new Set([...rec.portals.filter((p) => p !== portal).map((p) => p.portGroupId), portal.relativePortId]);
  if (!allowed.has(n)) {
    throw new ClusterError(
      'ISCSI_ERR_GROUP_NOT_FOUND',
      `portal ${formatPortal(portal)} can join the group of another portal of ${rec.iqn} ` +
        `(${[...allowed].filter((g) => g !== portal.relativePortId).join(', ') || 'none'}) or its own group ${portal.relativePortId}, not '${groupText}'`,
    );
  }
  const from = portal.portGroupId;
  if (from === n) return { portal, from, to: n };
  assertStopped(rec, 'moving a portal to another target port group');
  portal.portGroupId = n;
  normalize(rec, rec.portGroups ?? []);
  return { portal, from, to: n };
}

/**
 * `alua-set --explicit on|off`: whether initiators may change states with SET
 * TARGET PORT GROUPS (TPGS 11b). Changes what standard INQUIRY says, so the
 * target must be stopped. Off is stored as the field's absence.
 */
export function setExplicit(rec: TargetRecord, on: boolean): void {
  if ((rec.aluaExplicit === true) === on) return;
  assertStopped(rec, 'changing whether it offers explicit ALUA');
  if (on) rec.aluaExplicit = true;
  else delete rec.aluaExplicit;
}

/** What `alua-list` shows of one group. */
export interface PortGroupView {
  id: number;
  /** The state the target reports now (running), else the configured one. */
  state: AluaStateName;
  /** The state `alua-set` recorded (an initiator's SET TARGET PORT GROUPS may have changed the running one). */
  configuredState: AluaStateName;
  portals: Array<{ portal: string; tpgt: number; relativePortId: number; listening: boolean | null }>;
}

/** Groups of a record, with the running states and listening portals when the daemon reports them. */
export function portGroupViews(
  rec: TargetRecord,
  running?: Array<{ id: number; state: AluaStateName; portals: Array<{ address: string; port: number; listening: boolean }> }>,
): PortGroupView[] {
  return groupIds(rec).map((id) => {
    const live = running?.find((g) => g.id === id);
    return {
      id,
      state: live?.state ?? groupState(rec, id),
      configuredState: groupState(rec, id),
      portals: rec.portals
        .filter((p) => p.portGroupId === id)
        .sort((a, b) => a.relativePortId - b.relativePortId)
        .map((p) => ({
          portal: formatPortal(p),
          tpgt: p.tpgt,
          relativePortId: p.relativePortId,
          listening: live ? (live.portals.find((q) => q.address === p.address && q.port === p.port)?.listening ?? null) : null,
        })),
    };
  });
}
