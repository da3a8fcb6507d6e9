// Mock of our CLI (see daemon.mjs): create -n NAME -a ADDR [-a ADDR...],
// lun-add -t IQN -l N -s SIZE, start -t IQN, stop -t IQN, list.
import net from 'node:net';
import path from 'node:path';

const [cmd, ...rest] = process.argv.slice(2);
const opts = { a: [] };
for (let i = 0; i < rest.length; i += 2) {
  const k = rest[i].replace(/^-+/, '');
  if (k === 'a') opts.a.push(rest[i + 1]);
  else opts[k] = rest[i + 1];
}
const req = { cmd, name: opts.n, portals: opts.a, target: opts.t, lun: opts.l, size: opts.s };
const sock = path.join(process.env.ISCSI_RUN_DIR ?? '/nonexistent', 'vstorage-iscsid.sock');
const c = net.connect(sock, () => c.write(JSON.stringify(req) + '\n'));
let buf = '';
c.on('data', (d) => { buf += d; });
c.on('end', () => {
  const r = JSON.parse(buf);
  (r.ok ? process.stdout : process.stderr).write(r.out + '\n');
  process.exit(r.ok ? 0 : 1);
});
c.on('error', (e) => { console.error(`cannot reach the daemon: ${e.message}`); process.exit(1); });
