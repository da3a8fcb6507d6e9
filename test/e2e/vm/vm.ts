/**
 * Boot a real Linux iSCSI initiator (Debian 12 kernel, open-iscsi, iscsi_tcp,
 * dm-multipath, sg3-utils, fio) in a QEMU/TCG VM and run a shell script in it.
 *
 * Thin wrapper over run-vm.sh / build-image.sh next to this file: the shell
 * scripts are the single implementation, this module gives e2e tests a typed
 * API, streaming and result parsing.
 *
 *   const r = await runInVm({
 *     script: '. /guest/lib.sh\niscsi_login "$VM_TARGET_PORTAL" "$VM_TARGET_IQN" || exit 1\n...',
 *     env: { VM_TARGET_PORTAL: `10.0.2.2:${port}`, VM_TARGET_IQN: iqn },
 *     timeoutMs: 300_000,
 *   });
 *   expect(r.exitCode).toBe(0);
 *
 * Inside the VM the host's 127.0.0.1 is 10.0.2.2 (QEMU user networking).
 * Helpers in guest/*.sh are at /guest/*.sh (see guest/lib.sh).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const VM_DIR = HERE;
export const RUN_VM = join(HERE, 'run-vm.sh');
export const BUILD_IMAGE = join(HERE, 'build-image.sh');
/** Guest scenario scripts, by name, e.g. GUEST_SCRIPTS.smoke -> guest/smoke.sh on the host. */
export const GUEST_DIR = join(HERE, 'guest');

export interface RunInVmOptions {
  /** Guest script (busybox sh). Runs as /test.sh after the initiator is ready. */
  script: string;
  /** Kill the VM after this long (default 600 000 ms). Boot alone takes ~6 s under TCG. */
  timeoutMs?: number;
  /** Variables exported to the guest script. */
  env?: Record<string, string | number>;
  /** Host files copied into the guest: { src: '/host/path', dest: '/root/x' } (dest default /root/<name>). */
  files?: Array<{ src: string; dest?: string }>;
  /** Appended to the qemu command line (e.g. more -netdev/-device). */
  extraQemuArgs?: string[];
  /** Appended to the kernel command line, e.g. 'vmtest.multipathd=1' or 'vmtest.debug=1'. */
  kernelArgs?: string;
  /** Guest memory in MiB (default 1024). */
  memoryMb?: number;
  /** Guest CPUs (default 2). */
  cpus?: number;
  /**
   * Number of user-mode NICs (default 1). NIC i is eth<i> on 10.0.<2+i>.0/24:
   * guest 10.0.<2+i>.15, host 10.0.<2+i>.2, each of them the host's 127.0.0.1.
   */
  nics?: number;
  /**
   * Run QEMU inside this network namespace (`ip netns exec`): the guest then
   * reaches the namespace's own addresses directly (e.g. portal IPs on a dummy
   * or veth interface there), and 10.0.2.2 is the namespace's 127.0.0.1.
   */
  netns?: string;
  /** Do not create the default user-mode NIC (then give your own in extraQemuArgs). */
  noDefaultNet?: boolean;
  /** Serial console log file (default: $VM_CACHE_DIR/logs/vm-<time>-<pid>.log). */
  logFile?: string;
  /** Called with each chunk of console output as it arrives. */
  onOutput?: (chunk: string) => void;
  /** Copy console output to process.stderr (default: env VM_ECHO=1). */
  echo?: boolean;
  /** Cache directory for packages and images (default env VM_CACHE_DIR or <repo>/.vm-cache). */
  cacheDir?: string;
}

export interface VmResult {
  /** The guest script's exit status, or null when the VM never reported one (timeout, panic). */
  exitCode: number | null;
  /** True when the timeout killed the VM. */
  timedOut: boolean;
  /** Console output (CR stripped). */
  output: string;
  /** `VMTEST-RESULT key=value` lines printed by the guest (guest/lib.sh `result`). */
  results: Record<string, string>;
  /** Path of the serial console log. */
  logFile: string;
  /** Wall time of the whole run, boot included. */
  durationMs: number;
  /** Exit status of run-vm.sh (guest status, 124 timeout, 125 no report, 2 usage). */
  runnerStatus: number;
}

function cacheEnv(cacheDir?: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (cacheDir) env.VM_CACHE_DIR = resolve(cacheDir);
  return env;
}

/** True when qemu-system-x86_64 is installed (the image can then be built on demand). */
export function qemuAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status === 0;
}

/**
 * Build (or find in the cache) the kernel and base initramfs. Downloads
 * packages with apt-get on first use (root needed then); later calls return in
 * well under a second.
 */
export function buildVmImage(opts: { cacheDir?: string; force?: boolean } = {}): Promise<{
  kernel: string;
  initrd: string;
  kver: string;
}> {
  return new Promise((res, rej) => {
    const args = ['--print-env'];
    if (opts.force) args.push('--force');
    const p = spawn(BUILD_IMAGE, args, { env: cacheEnv(opts.cacheDir), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => {
      if (code !== 0) return rej(new Error(`build-image.sh failed (${code}):\n${err}`));
      const kv: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const m = /^(VM_\w+)=(.*)$/.exec(line);
        if (m) kv[m[1]] = m[2];
      }
      if (!kv.VM_KERNEL || !kv.VM_INITRD || !existsSync(kv.VM_INITRD)) {
        return rej(new Error(`build-image.sh printed no image paths:\n${out}\n${err}`));
      }
      res({ kernel: kv.VM_KERNEL, initrd: kv.VM_INITRD, kver: kv.VM_KVER ?? '' });
    });
  });
}

/** Parse `VMTEST-RESULT key=value` lines. */
export function parseResults(output: string): Record<string, string> {
  const results: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const m = /^VMTEST-RESULT ([^=\s]+)=(.*)$/.exec(line.trim());
    if (m) results[m[1]] = m[2];
  }
  return results;
}

/** Parse the guest's `VMTEST-EXIT=<n>` marker (the last one wins). */
export function parseExitCode(output: string): number | null {
  let code: number | null = null;
  for (const line of output.split('\n')) {
    const m = /^VMTEST-EXIT=(\d+)$/.exec(line.trim());
    if (m) code = Number(m[1]);
  }
  return code;
}

/**
 * Boot the VM, run `script` in it and resolve when the VM is gone. Never
 * rejects for a failing guest script: look at `exitCode` / `timedOut`.
 * Rejects only when run-vm.sh cannot be started or the image cannot be built.
 */
export async function runInVm(opts: RunInVmOptions): Promise<VmResult> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  // Build first, outside the VM timeout (the first build downloads ~120 MB).
  await buildVmImage({ cacheDir: opts.cacheDir });

  const args: string[] = ['-t', String(Math.max(1, Math.ceil(timeoutMs / 1000)))];
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInVm: bad env name ${k}`);
    args.push('-e', `${k}=${v}`);
  }
  for (const f of opts.files ?? []) args.push('-f', f.dest ? `${f.src}:${f.dest}` : f.src);
  if (opts.memoryMb) args.push('-m', String(opts.memoryMb));
  if (opts.cpus) args.push('-c', String(opts.cpus));
  if (opts.kernelArgs) args.push('-a', opts.kernelArgs);
  if (opts.nics) args.push('-n', String(opts.nics));
  if (opts.netns) args.push('--netns', opts.netns);
  if (opts.noDefaultNet) args.push('--no-net');
  if (opts.logFile) args.push('-l', opts.logFile);
  args.push('-', '--', ...(opts.extraQemuArgs ?? []));

  const echo = opts.echo ?? process.env.VM_ECHO === '1';
  const start = Date.now();
  return new Promise((res, rej) => {
    // detached: own process group, so a hard kill takes qemu down with the script
    const p = spawn(RUN_VM, args, {
      env: cacheEnv(opts.cacheDir),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let stderr = '';
    let killedByGuard = false;
    p.stdout.on('data', (d: Buffer) => {
      const s = d.toString().replace(/\r/g, '');
      output += s;
      opts.onOutput?.(s);
      if (echo) process.stderr.write(s);
    });
    p.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      stderr += s;
      if (echo) process.stderr.write(s);
    });
    // Safety net: run-vm.sh enforces the timeout itself; this only fires if it hangs.
    const guard = setTimeout(() => {
      killedByGuard = true;
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs + 30_000);
    p.on('error', (e) => {
      clearTimeout(guard);
      rej(e);
    });
    p.on('close', (code) => {
      clearTimeout(guard);
      const runnerStatus = code ?? -1;
      const exitCode = parseExitCode(output);
      const logMatch = /\[run-vm\] log: (.*)/.exec(stderr);
      if (runnerStatus === 2) {
        return rej(new Error(`run-vm.sh usage error:\n${stderr}`));
      }
      res({
        exitCode,
        timedOut: exitCode === null && (runnerStatus === 124 || killedByGuard),
        output,
        results: parseResults(output),
        logFile: logMatch ? logMatch[1].trim() : opts.logFile ?? '',
        durationMs: Date.now() - start,
        runnerStatus,
      });
    });
    p.stdin.end(opts.script);
  });
}

/**
 * A guest script that sources the helper library and then runs `body`.
 * `guestScript('iscsi_login "$P" "$T" || fail login')`
 */
export function guestScript(body: string): string {
  return `set -u\n. /guest/lib.sh\n${body}\n`;
}
