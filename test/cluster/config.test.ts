import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfigText, resolveHostId, controlSocketPath } from '../../src/cluster/config.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('config', () => {
  it('parses KEY=VALUE lines with comments and quotes', () => {
    expect(parseConfigText('# c\nISCSI_ROOT=/vstorage/stor1/iscsi\n\nexport A="x y"\nB=\'z\'\nC=v # note\n', 'f')).toEqual({
      ISCSI_ROOT: '/vstorage/stor1/iscsi',
      A: 'x y',
      B: 'z',
      C: 'v',
    });
    expect(() => parseConfigText('garbage line', 'f')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_CONFIG' }));
  });

  it('reads the file named by ISCSI_CONFIG; the environment overrides it', () => {
    const f = path.join(dir, 'config');
    fs.writeFileSync(f, `ISCSI_ROOT=${dir}/root\nISCSI_IQN_PREFIX=iqn.2020-01.org.example\nISCSI_RUN_DIR=${dir}/run\nHA_MODE=spare\n`);
    const c = loadConfig({ ISCSI_CONFIG: f, ISCSI_RUN_DIR: `${dir}/run2` });
    expect(c.configPath).toBe(f);
    expect(c.root).toBe(`${dir}/root`);
    expect(c.iqnPrefix).toBe('iqn.2020-01.org.example');
    expect(c.runDir).toBe(`${dir}/run2`);
    expect(c.values.HA_MODE).toBe('spare');
    expect(controlSocketPath(c)).toBe(`${dir}/run2/vstorage-iscsid.sock`);
    expect(c.discoveryAccount).toBeUndefined();
  });

  it('has defaults when no file exists at the default path', () => {
    const c = loadConfig({ ISCSI_CONFIG: '', ISCSI_ROOT: '' });
    expect(c.iqnPrefix).toBe('iqn.2014-04.com.vstorage');
    expect(c.runDir).toBe('/run/vstorage-iscsi');
    expect(c.stateDir).toBe('/var/lib/vstorage-iscsi');
  });

  it('fails clearly on a missing explicit file and bad values', () => {
    expect(() => loadConfig({ ISCSI_CONFIG: path.join(dir, 'nope') })).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_CONFIG' }));
    const f = path.join(dir, 'c');
    fs.writeFileSync(f, 'ISCSI_IQN_PREFIX=foo\n');
    expect(() => loadConfig({ ISCSI_CONFIG: f })).toThrow(/ISCSI_IQN_PREFIX/);
    expect(() => loadConfig({ ISCSI_CONFIG: path.join(dir, 'c2'), ISCSI_HOST_ID: 'xyz' })).toThrow();
    fs.writeFileSync(path.join(dir, 'c2'), '');
    expect(() => loadConfig({ ISCSI_CONFIG: path.join(dir, 'c2'), ISCSI_HOST_ID: 'xyz' })).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_BAD_HOST_ID' }),
    );
  });

  it('discovery accounts: mutual needs the one-way account and another name', () => {
    const f = path.join(dir, 'c');
    fs.writeFileSync(f, 'ISCSI_DISCOVERY_ACCOUNT=disc\nISCSI_DISCOVERY_MUTUAL_ACCOUNT=discm\n');
    expect(loadConfig({ ISCSI_CONFIG: f })).toMatchObject({ discoveryAccount: 'disc', discoveryMutualAccount: 'discm' });
    expect(loadConfig({ ISCSI_CONFIG: f, ISCSI_DISCOVERY_MUTUAL_ACCOUNT: 'none' }).discoveryMutualAccount).toBeUndefined();
    expect(loadConfig({ ISCSI_CONFIG: f, ISCSI_DISCOVERY_MUTUAL_ACCOUNT: '' }).discoveryMutualAccount).toBeUndefined();
    expect(() => loadConfig({ ISCSI_CONFIG: f, ISCSI_DISCOVERY_ACCOUNT: 'none' })).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_CONFIG', message: expect.stringContaining('needs ISCSI_DISCOVERY_ACCOUNT') }),
    );
    expect(() => loadConfig({ ISCSI_CONFIG: f, ISCSI_DISCOVERY_MUTUAL_ACCOUNT: 'disc' })).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_CONFIG', message: expect.stringContaining('RFC 7143 §9.2.1') }),
    );
    expect(() => loadConfig({ ISCSI_CONFIG: f, ISCSI_DISCOVERY_MUTUAL_ACCOUNT: '../x' })).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_CONFIG', message: expect.stringMatching(/^ISCSI_DISCOVERY_MUTUAL_ACCOUNT: /) }),
    );
  });

  it('generates the host ID once into the state directory', () => {
    const f = path.join(dir, 'c');
    fs.writeFileSync(f, `ISCSI_STATE_DIR=${dir}/state\n`);
    const c = loadConfig({ ISCSI_CONFIG: f });
    const id = resolveHostId(c);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(fs.readFileSync(`${dir}/state/host-id`, 'utf8').trim()).toBe(id);
    expect(resolveHostId(loadConfig({ ISCSI_CONFIG: f }))).toBe(id);
    expect(resolveHostId(loadConfig({ ISCSI_CONFIG: f, ISCSI_HOST_ID: 'FEFACC38A2F140CA' }))).toBe('fefacc38a2f140ca');
  });
});
