/**
 * Log a TestInitiator in to a target of a daemon under test over TCP, and
 * clear the unit attentions a new I_T nexus starts with (POWER ON, SAM-5
 * §6.3.1) so the first real command gets a real answer.
 */
import net from 'node:net';
import { TestInitiator, cdb, type LoginOptions } from '../../helpers/initiator.js';

/** Connect to 127.0.0.1:`port` and log in; throws with the login status unless it succeeds. */
export async function loginTestInitiator(port: number, login: LoginOptions): Promise<TestInitiator> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const ini = new TestInitiator(socket);
  const r = await ini.login(login);
  if (!r.ok) {
    ini.close();
    throw new Error(`login of ${login.initiatorName} to ${login.targetName} at port ${port} failed: ${r.statusClass}/${r.statusDetail}`);
  }
  return ini;
}

/** TEST UNIT READY until GOOD (each queued unit attention is reported once); false if it never is. */
export async function clearUnitAttentions(ini: TestInitiator, lun = 0): Promise<boolean> {
  for (let i = 0; i < 8; i++) if ((await ini.command({ lun, cdb: cdb.testUnitReady() })).status === 0) return true;
  return false;
}
