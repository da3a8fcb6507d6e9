/**
 * ALUA through the iSCSI engine over real TCP portals: port groups from the
 * target definition, an administrator's state change reaching every
 * session as a unit attention, the same LU behind every portal, and a
 * portal that stops listening (a failed path) and comes back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { IscsiEngine } from '../../../src/target/engine.js';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import type { TargetDefinition } from '../../../src/target/engine-api.js';
import { TestInitiator, cdb } from '../../helpers/initiator.js';
import { decodeSense } from '../helpers.js';
import { freePort } from '../../helpers/free-port.js';

const IQN = 'iqn.2014-04.com.vstorage:alua';
const NAA = '6001405abcdef0123456789abcdef012';

function tcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const rtpg = () => Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0]);
const vpd83 = () => cdb.inquiry(255, true, 0x83);

let engine: IscsiEngine;
let ports: number[];
let logs: string[];

async function start(extra: Partial<TargetDefinition> = {}) {
  ports = [await freePort(), await freePort()];
  logs = [];
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: (level, msg, ctx) => logs.push(`${level} ${msg} ${JSON.stringify(ctx ?? {})}`) });
  await engine.startTarget({
    iqn: IQN,
    portals: [
      { address: '127.0.0.1', port: ports[0], tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '127.0.0.1', port: ports[1], tpgt: 2, relativePortId: 2, portGroupId: 2 },
    ],
    luns: [{ id: 0, store: new MemoryStore(8 << 20), blockSize: 512, serial: 'SN0001', naa: NAA, online: true }],
    auth: () => ({}),
    portGroups: [{ id: 2, state: 'active-non-optimized' }],
    ...extra,
  });
}

async function login(port: number, name = 'iqn.1994-05.com.example:host'): Promise<TestInitiator> {
  const ini = new TestInitiator(await tcp(port));
  const r = await ini.login({ targetName: IQN, initiatorName: name });
  expect(r.ok).toBe(true);
  // POWER ON unit attention first.
  expect((await ini.command({ cdb: cdb.testUnitReady() })).status).toBe(2);
  return ini;
}

beforeEach(async () => start());
afterEach(async () => {
  await engine?.close();
});

describe('ALUA through the engine', () => {
  it('reports the definition\'s group states; both portals show the same LU', async () => {
    const a = await login(ports[0]);
    const b = await login(ports[1]);
    const ra = await a.command({ cdb: rtpg(), readLength: 1024 });
    expect([...ra.dataIn.subarray(0, 4)]).toEqual([0, 0, 0, 24]);
    expect([ra.dataIn[4] & 0x0f, ra.dataIn.readUInt16BE(6), ra.dataIn[16] & 0x0f, ra.dataIn.readUInt16BE(18)]).toEqual([0, 1, 1, 2]);
    const ia = (await a.command({ cdb: vpd83(), readLength: 255 })).dataIn;
    const ib = (await b.command({ cdb: vpd83(), readLength: 255 })).dataIn;
    // The first designator (NAA, logical unit) is byte-identical; the port designators differ.
    expect(ia.subarray(4, 24)).toEqual(ib.subarray(4, 24));
    expect(ia.subarray(4 + 4, 24).toString('hex')).toBe(NAA);
    expect(ia).not.toEqual(ib);
    const sa = (await a.command({ cdb: cdb.inquiry(255, true, 0x80), readLength: 255 })).dataIn;
    expect((await b.command({ cdb: cdb.inquiry(255, true, 0x80), readLength: 255 })).dataIn).toEqual(sa);
    expect(engine.portGroups(IQN)).toEqual([
      { id: 1, state: 'active-optimized', portals: [{ address: '127.0.0.1', port: ports[0], relativePortId: 1, tpgt: 1, listening: true }] },
      { id: 2, state: 'active-non-optimized', portals: [{ address: '127.0.0.1', port: ports[1], relativePortId: 2, tpgt: 2, listening: true }] },
    ]);
    a.close();
    b.close();
  });

  it('an administrator\'s change: unit attention on every session, then the new state applies', async () => {
    const a = await login(ports[0]);
    const b = await login(ports[1]);
    expect(engine.setPortGroupState(IQN, 1, 'standby')).toBe('active-optimized');
    for (const ini of [a, b]) {
      const r = await ini.command({ cdb: cdb.read10(0, 1), readLength: 512 });
      expect(decodeSense(r.sense!)).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x06 });
    }
    expect(decodeSense((await a.command({ cdb: cdb.read10(0, 1), readLength: 512 })).sense!)).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0b });
    expect((await b.command({ cdb: cdb.read10(0, 1), readLength: 512 })).status).toBe(0);
    expect(engine.portGroups(IQN)?.map((g) => g.state)).toEqual(['standby', 'active-non-optimized']);
    expect(() => engine.setPortGroupState(IQN, 7, 'standby')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_GROUP_NOT_FOUND' }));
    expect(() => engine.setPortGroupState('iqn.2014-04.com.vstorage:none', 1, 'standby')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_TARGET_NOT_RUNNING' }));
    a.close();
    b.close();
  });

  it('portal down drops its sessions and refuses connections; the other path keeps working; portal up serves again', async () => {
    const a = await login(ports[0]);
    const b = await login(ports[1]);
    const r = await engine.setPortalListening(IQN, '127.0.0.1', ports[0], false);
    expect(r).toEqual({ changed: true, dropped: 1 });
    await a.next(() => false, 2000);
    expect(a.closed).toBe(true);
    await expect(tcp(ports[0])).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const data = Buffer.alloc(512, 0x77);
    expect((await b.command({ cdb: cdb.write10(3, 1), dataOut: data })).status).toBe(0);
    expect(engine.portGroups(IQN)?.[0].portals[0].listening).toBe(false);
    expect(await engine.setPortalListening(IQN, '127.0.0.1', ports[0], false)).toEqual({ changed: false, dropped: 0 });
    // SendTargets no longer offers the portal that is down.
    const d = new TestInitiator(await tcp(ports[1]));
    expect((await d.login({ sessionType: 'Discovery' })).ok).toBe(true);
    expect(await d.sendTargets('All')).toEqual([
      ['TargetName', IQN],
      ['TargetAddress', `127.0.0.1:${ports[1]},2`],
    ]);
    d.close();

    expect(await engine.setPortalListening(IQN, '127.0.0.1', ports[0], true)).toEqual({ changed: true, dropped: 0 });
    const a2 = await login(ports[0]);
    expect((await a2.command({ cdb: cdb.read10(3, 1), readLength: 512 })).dataIn).toEqual(data);
    await expect(engine.setPortalListening(IQN, '127.0.0.1', 1, false)).rejects.toMatchObject({ code: 'ISCSI_ERR_PORTAL_NOT_FOUND' });
    a2.close();
    b.close();
  });

  it('a target stops cleanly with a portal down, and its port can be used again', async () => {
    await engine.setPortalListening(IQN, '127.0.0.1', ports[0], false);
    expect((await engine.stopTarget(IQN, { force: true })).stopped).toBe(true);
    await expect(tcp(ports[1])).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await engine.startTarget({
      iqn: IQN,
      portals: [{ address: '127.0.0.1', port: ports[0], tpgt: 1, relativePortId: 1, portGroupId: 1 }],
      luns: [],
      auth: () => ({}),
    });
    (await tcp(ports[0])).destroy();
  });
});
