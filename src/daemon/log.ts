/**
 * Daemon logging: one line per event on stderr (systemd's journal adds its
 * own timestamps, but a foreground run and `docker logs` need ours):
 *   2024-05-01T12:00:00.123Z INFO  target started target=iqn...:test1 luns=1
 * Context values with spaces or quotes are JSON-quoted.
 */
import type { LogLevel } from '../cluster/config.js';

export type LogContext = Record<string, unknown>;

export interface Logger {
  /** Same shape as EngineOptions.log (src/target/engine-api.ts). */
  log(level: LogLevel, msg: string, ctx?: LogContext): void;
  debug(msg: string, ctx?: LogContext): void;
  info(msg: string, ctx?: LogContext): void;
  warn(msg: string, ctx?: LogContext): void;
  error(msg: string, ctx?: LogContext): void;
  /** A logger that adds `ctx` to every line. */
  child(ctx: LogContext): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function fmtValue(v: unknown): string {
  if (v instanceof Error) v = (v as Error & { code?: string }).code ? `${(v as Error & { code?: string }).code}: ${v.message}` : v.message;
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function formatLogLine(time: Date, level: LogLevel, msg: string, ctx?: LogContext): string {
  let line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${msg.replace(/\n/g, '\\n')}`;
  if (ctx) {
    for (const [k, v] of Object.entries(ctx)) {
      if (v === undefined) continue;
      line += ` ${k}=${fmtValue(v)}`;
    }
  }
  return line + '\n';
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}, base: LogContext = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const log = (level: LogLevel, msg: string, ctx?: LogContext): void => {
    if (ORDER[level] < min) return;
    write(formatLogLine(now(), level, msg, ctx ? { ...base, ...ctx } : base));
  };
  return {
    log,
    debug: (m, c) => log('debug', m, c),
    info: (m, c) => log('info', m, c),
    warn: (m, c) => log('warn', m, c),
    error: (m, c) => log('error', m, c),
    child: (ctx) => createLogger(opts, { ...base, ...ctx }),
  };
}
