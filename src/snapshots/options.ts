/**
 * Options every changing snapshot operation takes (src/snapshots).
 */

export interface SnapshotOptions {
  /**
   * True when nobody has the LUN's top image open: the daemon passes it from
   * inside Daemon.withLunDetached. False (the CLI working in-process): the
   * operation refuses a target whose desired state is 'running', checked
   * under the target lock, so no daemon can open the image meanwhile.
   */
  imageDetached: boolean;
  /**
   * Test hook (failure injection): called at named steps; a throw there
   * must leave the record and what every image reads as they were.
   */
  step?: (name: string) => void | Promise<void>;
  /** Clock for the `created` stamp (DESIGN.md §9: injected clocks). */
  now?: () => Date;
}

export async function reach(opts: SnapshotOptions, name: string): Promise<void> {
  if (opts.step) await opts.step(name);
}
