// Mock of our daemon, for testing the e2e harnesses before the real daemon
// works (test/e2e/lib/selftest.sh). It speaks the same CLI contract as
// test/e2e/lib/ourd.sh expects, but serves iSCSI by running tgtd as its child
// (through test/e2e/lib/tgt.sh), so the process tree measured by the bench is
// this process plus tgtd. NOT a target implementation.
//
// Control: JSON lines over the UNIX socket $ISCSI_RUN_DIR/vstorage-iscsid.sock (the real daemon's socket name;
// the protocol on it is a private one).
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.ISCSI_ROOT;
const runDir = process.env.ISCSI_RUN_DIR;
if (!root || !runDir) {
  console.error('mock daemon: ISCSI_ROOT and ISCSI_RUN_DIR must be set');
  process.exit(2);
}
const sock = path.join(runDir, 'vstorage-iscsid.sock');
const targets = new Map(); // iqn -> { name, portals, luns: Map, child }

function parseSize(s) {
  const m = /^(\d+)([KMGT]?)$/i.exec(String(s));
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
}

function handle(req) {
  switch (req.cmd) {
    case 'list':
      return [...targets.keys()].map((iqn) => `${iqn} ${targets.get(iqn).child ? 'running' : 'stopped'}`).join('\n');
    case 'create': {
      const iqn = `iqn.2014-04.com.vstorage:${req.name}`;
      if (targets.has(iqn)) throw new Error(`target ${iqn} exists`);
      targets.set(iqn, { name: req.name, portals: req.portals, luns: new Map(), child: null });
      return `IQN: ${iqn}`;
    }
    case 'lun-add': {
      const t = targets.get(req.target);
      if (!t) throw new Error(`no target ${req.target}`);
      const file = path.join(root, `${t.name}-lun${req.lun}.img`);
      fs.closeSync(fs.openSync(file, 'w'));
      fs.truncateSync(file, parseSize(req.size));
      t.luns.set(req.lun, file);
      return `LUN ${req.lun} added`;
    }
    case 'start': {
      const t = targets.get(req.target);
      if (!t) throw new Error(`no target ${req.target}`);
      if (t.child) return 'already running';
      const ports = t.portals.map((p) => p.split(':').pop());
      // setpriv --pdeathsig: tgt.sh stops its tgtd even if this process is killed.
      const cmd = ['bash', path.join(here, '..', 'tgt.sh'), 'run', t.luns.get('1'), ...ports];
      if (fs.existsSync('/usr/bin/setpriv')) cmd.unshift('setpriv', '--pdeathsig', 'TERM');
      t.child = spawn(cmd[0], cmd.slice(1), {
        env: { ...process.env, TGT_IQN: req.target, E2E_LOG_DIR: '' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      t.child.on('exit', () => { t.child = null; });
      return `target ${req.target} started`;
    }
    case 'stop': {
      const t = targets.get(req.target);
      if (t?.child) t.child.kill('SIGTERM');
      return `target ${req.target} stopped`;
    }
    default:
      throw new Error(`unknown command ${req.cmd}`);
  }
}

fs.rmSync(sock, { force: true });
const server = net.createServer((c) => {
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    let reply;
    try {
      reply = { ok: true, out: handle(JSON.parse(buf.slice(0, nl))) };
    } catch (e) {
      reply = { ok: false, out: String(e.message ?? e) };
    }
    c.end(JSON.stringify(reply) + '\n');
  });
});
server.listen(sock, () => console.log(`mock daemon listening on ${sock}`));

function shutdown() {
  const kids = [...targets.values()].map((t) => t.child).filter(Boolean);
  for (const k of kids) k.kill('SIGTERM');
  server.close();
  fs.rmSync(sock, { force: true });
  if (kids.length === 0) process.exit(0);
  let left = kids.length;
  for (const k of kids) k.on('exit', () => { if (--left === 0) process.exit(0); });
  setTimeout(() => process.exit(0), 8000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
