/**
 * Replays a Dockerfile without a Docker engine, for tests: each stage's
 * filesystem is a directory (container path /x is <stage dir>/x), COPY copies
 * from the build context (after .dockerignore) or from an earlier stage, RUN
 * runs its shell command in the mapped WORKDIR with the stage's ENV on this
 * machine (whose Node.js stands in for the FROM image's, same major version).
 * The result is the final stage's directory, ENV, VOLUMEs and ENTRYPOINT.
 *
 * Supported: FROM [AS], WORKDIR, COPY [--from], RUN (shell form), ENV,
 * VOLUME, STOPSIGNAL, ENTRYPOINT/CMD (exec form), EXPOSE, LABEL. Anything
 * else is an error, so the Dockerfile cannot grow steps this check ignores.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  image: string;
  dir: string;
  workdir: string;
  env: Record<string, string>;
  volumes: string[];
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  stopSignal: string | undefined;
  /** What each RUN printed, for diagnostics. */
  runs: Array<{ command: string; output: string }>;
}

/** Instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    const start = i + 1;
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) l += lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse '${l}'`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  }
  return out;
}

/** `.dockerignore` patterns: names, paths and `*` globs, matched against a path and its parents. */
export function ignoreMatcher(patterns: string[]): (rel: string) => boolean {
  const res = patterns
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.startsWith('#'))
    .map((p) => {
      if (p.startsWith('!') || p.includes('**')) throw new Error(`.dockerignore pattern '${p}' is not supported by the replay`);
      const body = p.replace(/^\/+|\/+$/g, '').split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
      return new RegExp(`^${body}(/.*)?$`);
    });
  return (rel) => res.some((r) => r.test(rel));
}

function globFiles(dir: string, pattern: string): string[] {
  if (!pattern.includes('*')) return fs.existsSync(path.join(dir, pattern)) ? [pattern] : [];
  const d = path.dirname(pattern);
  const re = new RegExp(`^${path.basename(pattern).split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  if (!fs.existsSync(path.join(dir, d))) return [];
  return fs.readdirSync(path.join(dir, d)).filter((n) => re.test(n)).map((n) => path.join(d, n));
}

function copyTree(src: string, dest: string, skip: (abs: string) => boolean): void {
  if (skip(src)) return;
  const st = fs.statSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dest, { recursive: true });
    for (const n of fs.readdirSync(src)) copyTree(path.join(src, n), path.join(dest, n), skip);
  } else {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o777);
  }
}

function splitWords(s: string): string[] {
  return s.trim().split(/\s+/).filter(Boolean);
}

function execForm(s: string, where: string): string[] {
  const v = JSON.parse(s) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${where}: expected the exec (JSON array) form`);
  return v as string[];
}

function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, k: string) => env[k] ?? process.env[k] ?? '');
}

/** ENV KEY=VALUE [KEY=VALUE...] (values may be double-quoted) or the old `ENV KEY VALUE`. */
function parseEnv(args: string, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [k, ...rest] = splitWords(args);
    out[k!] = expand(rest.join(' '), env);
    return out;
  }
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of args.matchAll(re)) {
    const raw = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    out[m[1]!] = expand(raw, { ...env, ...out });
  }
  return out;
}

export interface ReplayOptions {
  dockerfile: string;
  context: string;
  /** Where the stage directories go. */
  work: string;
  /** Extra environment for RUN (e.g. npm settings); not part of the image. */
  runEnv?: Record<string, string>;
}

export function replayDockerfile(o: ReplayOptions): Stage[] {
  const instructions = parseDockerfile(fs.readFileSync(o.dockerfile, 'utf8'));
  const ignorePath = path.join(o.context, '.dockerignore');
  const ignored = ignoreMatcher(fs.existsSync(ignorePath) ? fs.readFileSync(ignorePath, 'utf8').split('\n') : []);
  const stages: Stage[] = [];
  let st: Stage | undefined;
  const map = (s: Stage, p: string) => path.join(s.dir, path.posix.resolve(s.workdir, p));
  for (const ins of instructions) {
    const where = `Dockerfile line ${ins.line} (${ins.op})`;
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`${where}: cannot parse`);
      const dir = path.join(o.work, `stage-${stages.length}`);
      fs.mkdirSync(dir, { recursive: true });
      st = { name: m[2], image: m[1]!, dir, workdir: '/', env: {}, volumes: [], entrypoint: undefined, cmd: undefined, stopSignal: undefined, runs: [] };
      stages.push(st);
      continue;
    }
    if (!st) throw new Error(`${where}: before FROM`);
    switch (ins.op) {
      case 'WORKDIR':
        st.workdir = path.posix.resolve(st.workdir, expand(ins.args, st.env));
        fs.mkdirSync(path.join(st.dir, st.workdir), { recursive: true });
        break;
      case 'COPY': {
        const words = splitWords(ins.args);
        let from: Stage | undefined;
        while (words[0]?.startsWith('--')) {
          const f = words.shift()!;
          const m = /^--from=(.+)$/.exec(f);
          if (!m) throw new Error(`${where}: option ${f} is not supported by the replay`);
          from = stages.find((s) => s.name === m[1]) ?? stages[Number(m[1])];
          if (!from) throw new Error(`${where}: no stage ${m[1]}`);
        }
        const dest = words.pop()!;
        const srcRoot = from ? from.dir : o.context;
        const sources = words.flatMap((w) => {
          const rel = from ? path.posix.resolve('/', w).slice(1) : path.posix.normalize(w).replace(/\/$/, '');
          const found = globFiles(srcRoot, rel);
          if (found.length === 0) throw new Error(`${where}: ${w} matches nothing`);
          return found;
        });
        const destAbs = map(st, dest);
        const toDir = dest.endsWith('/') || sources.length > 1;
        for (const s of sources) {
          const abs = path.join(srcRoot, s);
          const skip = (p: string) => !from && p !== o.context && ignored(path.relative(o.context, p));
          if (!from && skip(abs)) throw new Error(`${where}: ${s} is excluded by .dockerignore`);
          if (fs.statSync(abs).isDirectory()) copyTree(abs, destAbs, skip);
          else copyTree(abs, toDir ? path.join(destAbs, path.basename(s)) : destAbs, skip);
        }
        break;
      }
      case 'RUN': {
        if (ins.args.startsWith('[')) throw new Error(`${where}: use the shell form`);
        if (/(^|[\s;&|=])\//.test(ins.args)) throw new Error(`${where}: absolute paths in RUN cannot be replayed; work relative to WORKDIR`);
        const env = { ...process.env, ...st.env, ...o.runEnv, PATH: mapPath(st, st.env.PATH ?? process.env.PATH ?? '') };
        try {
          const output = execFileSync('sh', ['-c', ins.args], { cwd: path.join(st.dir, st.workdir), env, encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 << 20 });
          st.runs.push({ command: ins.args, output });
        } catch (e) {
          const x = e as { stdout?: string; stderr?: string; status?: number };
          throw new Error(`${where} failed (exit ${x.status}): ${ins.args}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
        }
        break;
      }
      case 'ENV':
        Object.assign(st.env, parseEnv(ins.args, st.env));
        break;
      case 'VOLUME':
        st.volumes.push(...(ins.args.startsWith('[') ? execForm(ins.args, where) : splitWords(ins.args)));
        break;
      case 'STOPSIGNAL':
        st.stopSignal = ins.args;
        break;
      case 'ENTRYPOINT':
        st.entrypoint = execForm(ins.args, where);
        break;
      case 'CMD':
        st.cmd = execForm(ins.args, where);
        break;
      case 'EXPOSE':
      case 'LABEL':
        break;
      default:
        throw new Error(`${where}: instruction not supported by the replay`);
    }
  }
  return stages;
}

/** PATH entries that are directories of the stage map into it; the others are this machine's. */
export function mapPath(st: Stage, value: string): string {
  return value
    .split(':')
    .map((p) => (p.startsWith('/') && fs.existsSync(path.join(st.dir, p)) ? path.join(st.dir, p) : p))
    .join(':');
}

/** The environment of a container of the stage, with container paths under `dir` (its volumes and run dirs). */
export function containerEnv(st: Stage, mapped: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...st.env, PATH: mapPath(st, st.env.PATH ?? '') };
  for (const [k, v] of Object.entries(mapped)) env[k] = v;
  return env;
}
