/**
 * Mode pages of a direct-access logical unit (SPC-4 §7.5, SBC-3 §6.4) and
 * their current values. Values are kept per logical unit, shared by all
 * I_T nexuses (SPC-4 §7.5.1 allows either); a MODE SELECT that changes them
 * raises MODE PARAMETERS CHANGED for the other nexuses (SPC-4 §6.11).
 *
 * No page is saveable (PS = 0): saved values do not exist, so PC = 11b is
 * refused with SAVING PARAMETERS NOT SUPPORTED (SPC-4 §6.13, §4.5.6), and
 * current values return to the defaults on a logical unit reset or restart.
 */

export interface ModePageDef {
  readonly code: number;
  readonly name: string;
  /** Whole page including the two header bytes (PAGE CODE, PAGE LENGTH). */
  readonly length: number;
  /** Default values (bytes 0-1 are the page header). */
  defaults(opts: ModeDefaults): Buffer;
  /** Changeable mask (bytes 0-1 are the page header, not a mask). */
  readonly changeable: Buffer;
}

export interface ModeDefaults {
  /** Caching page WCE (DESIGN.md §6: on by default). */
  writeCache: boolean;
}

function page(code: number, length: number, fill: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(length);
  b[0] = code;
  b[1] = length - 2;
  fill(b);
  return b;
}

/** SBC-3 §6.4.8: Read-Write Error Recovery mode page (01h). AWRE/ARRE may be changed but have no effect on virtual storage. */
const READ_WRITE_ERROR_RECOVERY: ModePageDef = {
  code: 0x01,
  name: 'read-write error recovery',
  length: 12,
  defaults: () => page(0x01, 12, () => undefined),
  changeable: page(0x01, 12, (b) => {
    b[2] = 0xc0; // AWRE, ARRE
  }),
};

/** SBC-3 §6.4.5: Caching mode page (08h). WCE switches write-through (DESIGN.md §6). */
export const CACHING_WCE = 0x04;
const CACHING: ModePageDef = {
  code: 0x08,
  name: 'caching',
  length: 20,
  defaults: (o) =>
    page(0x08, 20, (b) => {
      b[2] = o.writeCache ? CACHING_WCE : 0;
    }),
  changeable: page(0x08, 20, (b) => {
    b[2] = CACHING_WCE;
  }),
};

/** SPC-4 §7.5.8: Control mode page (0Ah). D_SENSE selects descriptor-format sense data. */
export const CONTROL_D_SENSE = 0x04;
const CONTROL: ModePageDef = {
  code: 0x0a,
  name: 'control',
  length: 12,
  defaults: () =>
    page(0x0a, 12, (b) => {
      // TST 001b: a task set per I_T nexus (the session orders its own ORDERED tasks, SAM-5 §8.6);
      // GLTSD = 1 (no log parameters are saved).
      b[2] = 0x20 | 0x02;
      b[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1h: unrestricted reordering; QERR 00b
      b[8] = 0xff; // BUSY TIMEOUT PERIOD FFFFh: unlimited
      b[9] = 0xff;
    }),
  changeable: page(0x0a, 12, (b) => {
    b[2] = CONTROL_D_SENSE;
  }),
};

/** SPC-4 §7.5.14: Informational Exceptions Control mode page (1Ch). We never report informational exceptions. */
const INFORMATIONAL_EXCEPTIONS: ModePageDef = {
  code: 0x1c,
  name: 'informational exceptions control',
  length: 12,
  defaults: () =>
    page(0x1c, 12, (b) => {
      b[2] = 0x08; // DEXCPT = 1
    }),
  changeable: page(0x1c, 12, (b) => {
    b[2] = 0x99; // PERF, EWASC, DEXCPT, LOGERR
    b[3] = 0x0f; // MRIE
    b.fill(0xff, 4, 12); // INTERVAL TIMER, REPORT COUNT
  }),
};

/** Supported pages in ascending page code order (SPC-4 §6.13: 3Fh returns them in this order). */
export const MODE_PAGES: readonly ModePageDef[] = [READ_WRITE_ERROR_RECOVERY, CACHING, CONTROL, INFORMATIONAL_EXCEPTIONS];

export function modePageDef(code: number): ModePageDef | undefined {
  for (const p of MODE_PAGES) if (p.code === code) return p;
  return undefined;
}

/** Page control values (SPC-4 §6.13, table 166). */
export const PageControl = { CURRENT: 0, CHANGEABLE: 1, DEFAULT: 2, SAVED: 3 } as const;

/** Current mode parameter values of one logical unit. */
export class ModeParameters {
  private readonly current = new Map<number, Buffer>();
  private readonly defaultValues = new Map<number, Buffer>();
  /** Cached caching-page WCE (hot path: every write). */
  wce = true;
  /** Cached control-page D_SENSE (every CHECK CONDITION). */
  dSense = false;

  constructor(defaults: ModeDefaults) {
    for (const p of MODE_PAGES) this.defaultValues.set(p.code, p.defaults(defaults));
    this.reset();
  }

  /** Current values back to defaults (logical unit reset; no saved values exist). */
  reset(): void {
    for (const [code, d] of this.defaultValues) this.current.set(code, Buffer.from(d));
    this.refresh();
  }

  /** Page values for a page control (not SAVED). The returned buffer must not be modified. */
  page(code: number, pc: number): Buffer | undefined {
    const def = modePageDef(code);
    if (!def) return undefined;
    if (pc === PageControl.CHANGEABLE) return def.changeable;
    if (pc === PageControl.DEFAULT) return this.defaultValues.get(code);
    return this.current.get(code);
  }

  /** Replace the current values of a page (already validated by MODE SELECT). Returns whether anything changed. */
  set(code: number, values: Buffer): boolean {
    const cur = this.current.get(code);
    if (!cur || cur.equals(values)) return false;
    values.copy(cur, 0, 0, cur.length);
    this.refresh();
    return true;
  }

  private refresh(): void {
    this.wce = ((this.current.get(0x08)?.[2] ?? 0) & CACHING_WCE) !== 0;
    this.dSense = ((this.current.get(0x0a)?.[2] ?? 0) & CONTROL_D_SENSE) !== 0;
  }
}
