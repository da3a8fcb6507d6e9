/**
 * `multipath -ll` parsing against recorded outputs: the vendor guide's sample
 * (seeds/000, as multipath-tools prints it and as the guide's PDF mangled it),
 * our LUNs with ALUA groups of priority 50 and 10, a failed path, the 0.4.x
 * bracket layout, and input that is not multipath output at all.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMultipathLl } from '../../tools/host-attach/parse-multipath.js';
import { HostAttachError } from '../../tools/host-attach/errors.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => fs.readFileSync(path.join(FIX, name), 'utf8');

describe('parseMultipathLl', () => {
  it('reads the sample of seeds/000: one map, two path groups (prio 130 and 10), three paths', () => {
    const { maps, messages } = parseMultipathLl(fixture('multipath-ll-seed000.txt'));
    expect(messages).toEqual([]);
    expect(maps).toHaveLength(1);
    const m = maps[0]!;
    expect(m).toMatchObject({
      name: 'mpatha',
      wwid: '36f4032f00035000000000000000008ab',
      dm: 'dm-3',
      vendor: 'REDUXIO',
      product: 'TCAS',
      size: '500G',
      features: '1 queue_if_no_path',
      hwhandler: '1 alua',
      wp: 'rw',
    });
    expect(m.groups.map((g) => [g.index, g.policy, g.prio, g.status, g.paths.map((p) => p.device)])).toEqual([
      [1, 'round-robin 0', 130, 'active', ['sde']],
      [2, 'round-robin 0', 10, 'enabled', ['sdd', 'sdc']],
    ]);
    expect(m.groups[0]!.paths[0]).toEqual({
      hctl: '10:0:0:120',
      host: 10,
      channel: 0,
      scsiId: 0,
      lun: 120,
      device: 'sde',
      devt: '8:64',
      dmState: 'active',
      checkerState: 'ready',
      onlineState: 'running',
    });
  });

  it('reads the same sample as the guide printed it, with the tree drawing lost and wp=rw on its own line', () => {
    const printed = parseMultipathLl(fixture('multipath-ll-seed000-as-printed.txt'));
    const real = parseMultipathLl(fixture('multipath-ll-seed000.txt'));
    expect(printed.messages).toEqual([]);
    const strip = (x: typeof real) => x.maps.map((m) => ({ ...m, wwid: undefined }));
    expect(strip(printed)).toEqual(strip(real));
  });

  it('reads our LUNs: two maps, each with an ALUA group of priority 50 and one of 10', () => {
    const { maps } = parseMultipathLl(fixture('multipath-ll-vstorage.txt'));
    expect(maps.map((m) => [m.name, m.wwid, m.dm, m.vendor, m.product, m.size])).toEqual([
      ['mpatha', '36e6f72616c69737a8e1d4b7c2a5f3000', 'dm-0', 'VSTORAGE', 'VSTORAGE-LUN', '100G'],
      ['mpathb', '36e6f72616c69737a8e1d4b7c2a5f3001', 'dm-1', 'VSTORAGE', 'VSTORAGE-LUN', '10G'],
    ]);
    for (const m of maps) {
      expect(m.groups.map((g) => [g.prio, g.status, g.policy])).toEqual([
        [50, 'active', 'service-time 0'],
        [10, 'enabled', 'service-time 0'],
      ]);
      expect(m.groups.flatMap((g) => g.paths.map((p) => `${p.dmState} ${p.checkerState} ${p.onlineState}`))).toEqual([
        'active ready running',
        'active ready running',
      ]);
    }
    expect(maps[1]!.groups.map((g) => g.paths[0]!.hctl)).toEqual(['2:0:0:1', '3:0:0:1']);
  });

  it('reads a failed path: dm state failed, checker faulty, its group at priority 0 and no longer active', () => {
    const { maps } = parseMultipathLl(fixture('multipath-ll-vstorage-failed-path.txt'));
    const g = maps[0]!.groups;
    expect(g[0]).toMatchObject({ prio: 0, status: 'enabled' });
    expect(g[0]!.paths[0]).toMatchObject({ device: 'sda', dmState: 'failed', checkerState: 'faulty', onlineState: 'running' });
    expect(g[1]).toMatchObject({ prio: 10, status: 'active' });
    expect(g[1]!.paths[0]).toMatchObject({ device: 'sdc', dmState: 'active', checkerState: 'ready' });
  });

  it('reads maps named by WWID, two-word checker states, paths without SCSI address, and log lines', () => {
    const text = [
      'Nov 23 10:00:01 | sdf: prio = const (setting: emergency fallback - alua failed)',
      '36e6f72616c69737a8e1d4b7c2a5f3002 dm-4 VSTORAGE,VSTORAGE-LUN',
      "size=1.0T features='0' hwhandler='1 alua' wp=rw",
      "|-+- policy='service-time 0' prio=50 status=active",
      '| |- 5:0:0:2 sdf 8:80  active i/o pending running',
      '| `- 6:0:0:2 sdg 8:96  active ready running',
      "`-+- policy='service-time 0' prio=1 status=enabled",
      '  `- #:#:#:# sdh 8:112 failed faulty offline',
    ].join('\n');
    const { maps, messages } = parseMultipathLl(text);
    expect(messages).toEqual(['Nov 23 10:00:01 | sdf: prio = const (setting: emergency fallback - alua failed)']);
    expect(maps[0]!.name).toBe(maps[0]!.wwid);
    expect(maps[0]!.features).toBe('0');
    expect(maps[0]!.groups[0]!.paths.map((p) => p.checkerState)).toEqual(['i/o pending', 'ready']);
    const orphan = maps[0]!.groups[1]!.paths[0]!;
    expect(orphan).toEqual({ device: 'sdh', devt: '8:112', dmState: 'failed', checkerState: 'faulty', onlineState: 'offline' });
  });

  it('reads the bracketed layout of multipath-tools 0.4.x', () => {
    const text = [
      'mpath0 (360a98000486e2f65686f6f2d2f4a7a59) dm-2 NETAPP,LUN',
      '[size=10G][features=1 queue_if_no_path][hwhandler=0][rw]',
      '\\_ round-robin 0 [prio=8][active]',
      ' \\_ 2:0:0:0 sdb 8:16  [active][ready]',
      '\\_ round-robin 0 [prio=2][enabled]',
      ' \\_ 3:0:0:0 sdc 8:32  [failed][faulty]',
    ].join('\n');
    const m = parseMultipathLl(text).maps[0]!;
    expect(m).toMatchObject({ name: 'mpath0', size: '10G', features: '1 queue_if_no_path', hwhandler: '0', wp: 'rw' });
    expect(m.groups.map((g) => [g.policy, g.prio, g.status, g.paths[0]!.device, g.paths[0]!.dmState, g.paths[0]!.checkerState])).toEqual([
      ['round-robin 0', 8, 'active', 'sdb', 'active', 'ready'],
      ['round-robin 0', 2, 'enabled', 'sdc', 'failed', 'faulty'],
    ]);
  });

  it('an empty listing is no maps; notices without maps are kept as messages', () => {
    expect(parseMultipathLl('')).toEqual({ maps: [], messages: [] });
    expect(parseMultipathLl('Nov 23 10:00:01 | DM multipath kernel driver not loaded\n').maps).toEqual([]);
  });

  it('refuses text that is not multipath -ll output, and says when it is iscsiadm output', () => {
    const wrong = () => parseMultipathLl(fixture('iscsiadm-session-seed000.txt'), 'sessions.txt');
    expect(wrong).toThrow(HostAttachError);
    expect(wrong).toThrow(/sessions\.txt is not `multipath -ll` output.*looks like iscsiadm output/);
    expect(() => parseMultipathLl('hello world\n')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_HOST_BAD_INPUT' }));
  });
});
