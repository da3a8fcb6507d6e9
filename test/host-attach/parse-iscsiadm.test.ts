/**
 * `iscsiadm -m session` parsing against recorded outputs: the one-line form of
 * seeds/000 and open-iscsi 2.1.8's `-P 3` tree (two sessions of one target
 * under one Target: line, one of them failed), plus the older layout with a
 * Target: line per session and 120 s recovery timeout.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatPortalRef, parseIscsiadmSessions, parsePortalRef } from '../../tools/host-attach/parse-iscsiadm.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => fs.readFileSync(path.join(FIX, name), 'utf8');
const T = 'iqn.2014-04.com.vstorage:ps1';

describe('parseIscsiadmSessions', () => {
  it('reads `iscsiadm -m session` of seeds/000: four sessions to one target', () => {
    const r = parseIscsiadmSessions(fixture('iscsiadm-session-seed000.txt'));
    expect(r.detail).toBe(0);
    expect(r.sessions.map((s) => [s.transport, s.sid, s.portal && formatPortalRef(s.portal), s.target])).toEqual([
      ['tcp', 1, '172.168.1.121:3260,1', 'iqn.2013-12.com.reduxio:af4032ff0032000e'],
      ['tcp', 2, '172.168.1.122:3260,1', 'iqn.2013-12.com.reduxio:af4032ff0032000e'],
      ['tcp', 3, '172.168.1.123:3260,1', 'iqn.2013-12.com.reduxio:af4032ff0032000e'],
      ['tcp', 4, '172.168.1.124:3260,1', 'iqn.2013-12.com.reduxio:af4032ff0032000e'],
    ]);
  });

  it('reads open-iscsi 2.1.8 `-P 3`: sessions, states, timeouts, SCSI host and attached disks per LUN', () => {
    const r = parseIscsiadmSessions(fixture('iscsiadm-session-P3-2.1.8.txt'));
    expect(r.detail).toBe(3);
    expect(r.sessions).toHaveLength(2);
    expect(r.sessions[0]).toEqual({
      transport: 'tcp',
      sid: 1,
      target: T,
      portal: { address: '192.168.10.101', port: 3260, tpgt: 1 },
      persistentPortal: { address: '192.168.10.101', port: 3260, tpgt: 1 },
      iface: 'default',
      initiatorName: 'iqn.1993-08.org.debian:01:5e7d1c9a4b2f',
      localAddress: '192.168.10.21',
      connectionState: 'LOGGED IN',
      sessionState: 'LOGGED_IN',
      internalState: 'NO CHANGE',
      recoveryTimeout: 15,
      hostNumber: 2,
      hostState: 'running',
      disks: [
        { lun: 0, channel: 0, scsiId: 0, device: 'sda', state: 'running' },
        { lun: 1, channel: 0, scsiId: 0, device: 'sdb', state: 'running' },
      ],
    });
    expect(r.sessions[1]).toMatchObject({
      sid: 2,
      target: T,
      portal: { address: '192.168.20.101', port: 3260, tpgt: 2 },
      hostNumber: 3,
      disks: [
        { lun: 0, device: 'sdc', state: 'running' },
        { lun: 1, device: 'sdd', state: 'running' },
      ],
    });
  });

  it('reads a failed session: TRANSPORT WAIT, FAILED, REOPEN, disks transport-offline', () => {
    const s = parseIscsiadmSessions(fixture('iscsiadm-session-P3-2.1.8-failed.txt')).sessions[0]!;
    expect(s).toMatchObject({
      sid: 1,
      connectionState: 'TRANSPORT WAIT',
      sessionState: 'FAILED',
      internalState: 'REOPEN',
      localAddress: undefined,
    });
    expect(s.disks.map((d) => d.state)).toEqual(['transport-offline', 'transport-offline']);
  });

  it('reads the older layout: a Target: line per session, <empty> values, IPv6 portals', () => {
    const text = [
      'iSCSI Transport Class version 2.0-870',
      'version 6.2.0.874-22',
      'Target: iqn.2014-04.com.vstorage:test1 (non-flash)',
      '\tCurrent Portal: [fd00:10::101]:3260,1',
      '\tPersistent Portal: [fd00:10::101]:3260,1',
      '\t\t**********',
      '\t\tInterface:',
      '\t\t**********',
      '\t\tIface Name: default',
      '\t\tIface Transport: tcp',
      '\t\tIface Initiatorname: iqn.1994-05.com.redhat:c678b9f6f0',
      '\t\tIface IPaddress: fd00:10::21',
      '\t\tIface HWaddress: <empty>',
      '\t\tIface Netdev: <empty>',
      '\t\tSID: 7',
      '\t\tiSCSI Connection State: LOGGED IN',
      '\t\tiSCSI Session State: LOGGED_IN',
      '\t\tInternal iscsid Session State: NO CHANGE',
      '\t\t*********',
      '\t\tTimeouts:',
      '\t\t*********',
      '\t\tRecovery Timeout: 120',
      '\t\t************************',
      '\t\tAttached SCSI devices:',
      '\t\t************************',
      '\t\tHost Number: 9\tState: running',
      '\t\tscsi9 Channel 00 Id 0 Lun: 1',
      '\t\t\tAttached scsi disk sdk\t\tState: running',
      'Target: iqn.2014-04.com.vstorage:test2 (non-flash)',
      '\tCurrent Portal: 192.168.10.102:3260,1',
      '\tPersistent Portal: 192.168.10.102:3260,1',
      '\t\t**********',
      '\t\tInterface:',
      '\t\t**********',
      '\t\tIface Name: default',
      '\t\tSID: 8',
      '\t\tiSCSI Connection State: LOGGED IN',
      '\t\tiSCSI Session State: LOGGED_IN',
      '\t\tInternal iscsid Session State: NO CHANGE',
    ].join('\n');
    const r = parseIscsiadmSessions(text);
    expect(r.sessions.map((s) => [s.sid, s.target, s.portal && formatPortalRef(s.portal), s.recoveryTimeout, s.disks.map((d) => d.device)])).toEqual([
      [7, 'iqn.2014-04.com.vstorage:test1', '[fd00:10::101]:3260,1', 120, ['sdk']],
      [8, 'iqn.2014-04.com.vstorage:test2', '192.168.10.102:3260,1', undefined, []],
    ]);
    expect(r.sessions[0]!.portal!.address).toBe('fd00:10::101');
  });

  it('two ifaces to one portal are two sessions under one Current Portal', () => {
    const text = [
      'Target: iqn.2014-04.com.vstorage:ps1 (non-flash)',
      '\tCurrent Portal: 192.168.10.101:3260,1',
      '\tPersistent Portal: 192.168.10.101:3260,1',
      '\t\tIface Name: eth1',
      '\t\tSID: 3',
      '\t\tIface Name: eth2',
      '\t\tSID: 4',
    ].join('\n');
    const r = parseIscsiadmSessions(text);
    expect(r.sessions.map((s) => [s.sid, s.iface, s.portal?.address])).toEqual([
      [3, 'eth1', '192.168.10.101'],
      [4, 'eth2', '192.168.10.101'],
    ]);
  });

  it('"No active sessions" and empty output are no sessions; other text is refused', () => {
    expect(parseIscsiadmSessions('iscsiadm: No active sessions.\n').sessions).toEqual([]);
    expect(parseIscsiadmSessions('').sessions).toEqual([]);
    expect(() => parseIscsiadmSessions(fs.readFileSync(path.join(FIX, 'multipath-ll-seed000.txt'), 'utf8'), 'mp.txt')).toThrow(
      /mp\.txt is not `iscsiadm -m session` output.*looks like multipath -ll output/,
    );
    expect(() => parseIscsiadmSessions('Target: iqn.2014-04.com.vstorage:x (non-flash)\n')).toThrow(/no session/);
  });

  it('portal references round-trip', () => {
    for (const t of ['192.168.10.101:3260,1', '[fd00::1]:3261,2', 'host.example:3260,-1']) {
      expect(formatPortalRef(parsePortalRef(t)!)).toBe(t);
    }
    expect(parsePortalRef('192.168.10.101')).toBeUndefined();
  });
});
