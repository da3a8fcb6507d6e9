/** The ISCSI_ROOT store (DESIGN.md §4): public surface for the daemon, CLI and TUI. */
export * from './errors.js';
export * from './config.js';
export * from './validate.js';
export * from './records.js';
export * from './store.js';
export * from './lock.js';
export * from './atomic.js';
export * from './ids.js';
export * from './secret-rules.js';
