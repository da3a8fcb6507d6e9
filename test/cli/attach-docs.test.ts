/**
 * docs/attach: the attach guides (source 4.2.7) say only what the target
 * really does. A real engine with one LUN answers logins, discovery,
 * INQUIRY and VPD pages through the test initiator; the facts table of
 * docs/attach/README.md and the identifiers, names and commands the guides
 * quote are compared with what it answers and with the SCSI command table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../cluster/helpers/build.js';
import { IscsiEngine } from '../../src/target/engine.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { DEFAULT_INDEX } from '../../src/scsi/command-table.js';
import { PRODUCT_ID, VENDOR_ID } from '../../src/scsi/constants.js';
import { CHAP_ALGORITHMS, SUPPORTED_CHAP_ALGORITHMS } from '../../src/chap/chap.js';
import { MAX_CHAP_SECRET_BYTES, MIN_CHAP_SECRET_BYTES } from '../../src/cluster/secret-rules.js';
import { validateInitiatorName } from '../../src/cluster/access.js';
import { validateTargetName } from '../../src/cluster/validate.js';
import { buildProgram } from '../../tools/cli/program.js';
import { CliContext } from '../../tools/cli/context.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb } from '../helpers/initiator.js';
import { freePort } from '../helpers/free-port.js';

const DIR = path.join(REPO, 'docs/attach');
const GUIDES = ['linux.md', 'windows.md', 'esxi.md', 'xenserver.md', 'hyperv.md'];
const read = (f: string) => fs.readFileSync(path.join(DIR, f), 'utf8');
const README = read('README.md');
const IQN = 'iqn.2014-04.com.vstorage:test1';
const NAA = '61ac51d40d4642037d6069753a8dd443';

let engine: IscsiEngine;
let port: number;
const ACCOUNT = { user: 'user1', secret: 'secret-of-user1' };

let chap = false;
beforeAll(async () => {
  port = await freePort();
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => undefined });
  await engine.startTarget({
    iqn: IQN,
    portals: [{ address: '127.0.0.1', port, tpgt: 1, relativePortId: 1, portGroupId: 1 }],
    luns: [{ id: 1, store: new MemoryStore(100 << 20), blockSize: 512, serial: 'be80f76aeee932b9', naa: NAA, online: true }],
    auth: () => (chap ? { chap: ACCOUNT } : {}),
  });
});
afterAll(() => engine.close());

async function session<T>(fn: (ini: TestInitiator) => Promise<T>): Promise<T> {
  const [a, b] = duplexPair();
  engine.onConnection(b, '127.0.0.1', port);
  try {
    return await fn(new TestInitiator(a));
  } finally {
    a.destroy();
  }
}

/** Cells of the rows of the first markdown table after `heading`. */
function table(text: string, heading: string): string[][] {
  const at = text.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const lines = text.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.slice(1, -1).split('|').map((c) => c.trim()));
  }
  return rows;
}

describe('the facts table of docs/attach/README.md', () => {
  const facts = Object.fromEntries(table(README, '## What the target offers initiators').map(([k, v]) => [k!, v!]));

  it('INQUIRY vendor and product, ALUA, and the NAA identifier are what the target answers', async () => {
    expect(facts['INQUIRY vendor / product']).toBe(`\`${VENDOR_ID}\` / \`${PRODUCT_ID}\``);
    await session(async (ini) => {
      expect((await ini.login({ targetName: IQN })).ok).toBe(true);
      let r = await ini.command({ lun: 1, cdb: cdb.inquiry(96), readLength: 96 });
      while (r.status !== 0) r = await ini.command({ lun: 1, cdb: cdb.inquiry(96), readLength: 96 }); // unit attention
      expect(r.dataIn.subarray(8, 16).toString('ascii').trimEnd()).toBe(VENDOR_ID);
      expect(r.dataIn.subarray(16, 32).toString('ascii').trimEnd()).toBe(PRODUCT_ID);
      expect((r.dataIn[5]! >> 4) & 3, 'TPGS: ALUA').not.toBe(0);
      expect(facts.Multipath).toMatch(/^ALUA \(INQUIRY TPGS set, REPORT TARGET PORT GROUPS\)/);
      expect(DEFAULT_INDEX.all.map((d) => d.name)).toContain('REPORT TARGET PORT GROUPS');
      // VPD 83h: an NAA designator (type 3) with the LUN's naa.
      const v = await ini.command({ lun: 1, cdb: cdb.inquiry(255, true, 0x83), readLength: 255 });
      const naas: string[] = [];
      for (let i = 4; i + 4 <= 4 + v.dataIn.readUInt16BE(2); i += 4 + v.dataIn[i + 3]!) {
        if ((v.dataIn[i + 1]! & 0x0f) === 3 && ((v.dataIn[i + 1]! >> 4) & 3) === 0) naas.push(v.dataIn.subarray(i + 4, i + 4 + v.dataIn[i + 3]!).toString('hex'));
      }
      expect(naas).toEqual([NAA]);
    });
    expect(facts['Device identifier']).toContain('NAA 6 designator (VPD page 83h)');
    expect(NAA[0]).toBe('6');
  });

  it('digests, connections per session and error recovery are what the target negotiates', async () => {
    const keys = await session(async (ini) => {
      const r = await ini.login({
        targetName: IQN,
        keys: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C,None', MaxConnections: '8', ErrorRecoveryLevel: '2' },
      });
      expect(r.ok).toBe(true);
      return r.keys;
    });
    expect([keys.get('HeaderDigest'), keys.get('DataDigest'), keys.get('MaxConnections'), keys.get('ErrorRecoveryLevel')]).toEqual(['CRC32C', 'CRC32C', '1', '0']);
    expect(facts.Digests).toBe('`CRC32C` or `None`, header and data independently');
    expect(facts['Connections per session']).toMatch(/^1 \(no MC\/S/);
    expect(facts['Error recovery level']).toBe('0');
  });

  it('SendTargets answers ADDRESS:PORT,TPGT with tag 1 for the first portal', async () => {
    const pairs = await session(async (ini) => {
      expect((await ini.login({ sessionType: 'Discovery' })).ok).toBe(true);
      return ini.sendTargets();
    });
    expect(pairs).toEqual([
      ['TargetName', IQN],
      ['TargetAddress', `127.0.0.1:${port},1`],
    ]);
    expect(facts['Target portal group tag']).toContain('`TargetAddress=192.168.10.100:3260,1`');
    expect(read('linux.md')).toContain('# 192.168.10.100:3260,1 iqn.2014-04.com.vstorage:test1');
  });

  it('CHAP: every algorithm listed logs in, and the secret limits are the store policy', async () => {
    const listed = [...facts.CHAP!.matchAll(/(\d) \(([^)]+)\)/g)].map((m) => [Number(m[1]), m[2]]);
    expect(listed).toEqual(SUPPORTED_CHAP_ALGORITHMS.map((id) => [id, CHAP_ALGORITHMS[id].name]));
    chap = true;
    try {
      for (const [id] of listed) {
        const r = await session((ini) => ini.login({ targetName: IQN, chap: { ...ACCOUNT, algorithms: String(id) } }));
        expect(r.ok, `CHAP_A=${id}`).toBe(true);
      }
    } finally {
      chap = false;
    }
    expect(facts.CHAP).toContain(`secrets of ${MIN_CHAP_SECRET_BYTES} to ${MAX_CHAP_SECRET_BYTES} bytes`);
  });

  it('target names: no underscore', () => {
    expect(() => validateTargetName('test_1')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_NAME' }));
    expect(facts['Target names']).toContain('never `_`');
  });

  it('the commands marked yes are in the SCSI command table, those marked no are not', () => {
    const all = DEFAULT_INDEX.all.map((d) => d.name);
    // A command with service actions has one entry per action: "PERSISTENT RESERVE IN (READ KEYS)".
    const names = { has: (n: string) => all.some((x) => x === n || x.startsWith(`${n} (`)) };
    const rows = table(README, 'SCSI commands the guides mention');
    expect(rows.length).toBeGreaterThan(5);
    for (const [use, command, supported] of rows) {
      const name = /^`(.+)`$/.exec(command!)![1]!;
      expect(['yes', 'no'], `${name}: yes or no`).toContain(supported);
      expect(
        names.has(name),
        `docs/attach/README.md says ${name} (${use}) is ${supported === 'yes' ? '' : 'not '}supported, but the command table ${names.has(name) ? 'has' : 'lacks'} it: update the guide`,
      ).toBe(supported === 'yes');
    }
  });
});

describe('the guides', () => {
  const all = GUIDES.map((g) => [g, read(g)] as const);

  it('exist and are linked from docs/attach/README.md; their anchors resolve', () => {
    const slug = (h: string) => h.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
    const anchors = (text: string) => new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!)));
    for (const g of GUIDES) expect(README).toContain(`](${g})`);
    for (const [g, text] of [...all, ['README.md', README] as const]) {
      for (const m of text.matchAll(/\]\(([a-z./-]+\.md)?(?:#([a-z0-9-]+))?\)/g)) {
        const target = path.resolve(DIR, m[1] ?? g);
        expect(fs.existsSync(target), `${g} links ${m[0]}`).toBe(true);
        if (m[2]) expect(anchors(fs.readFileSync(target, 'utf8')).has(m[2]), `${g} links ${m[1] ?? g}#${m[2]}`).toBe(true);
      }
    }
    expect(fs.readFileSync(path.join(REPO, 'docs/cli.md'), 'utf8')).toContain('(attach/README.md)');
  });

  it('quote the vendor and product exactly as INQUIRY reports them', () => {
    const linux = read('linux.md');
    expect(linux).toContain(`vendor "${VENDOR_ID}"`);
    expect(linux).toContain(`product "${PRODUCT_ID}"`);
    expect(linux).toContain(`${VENDOR_ID},${PRODUCT_ID}`);
    const win = read('windows.md');
    // MPIO hardware IDs: vendor padded to 8, product to 16 characters.
    expect(win).toContain(`mpclaim -r -i -d "${VENDOR_ID.padEnd(8)}${PRODUCT_ID.padEnd(16)}"`);
    expect(win).toContain(`New-MSDSMSupportedHW -VendorId ${VENDOR_ID} -ProductId ${PRODUCT_ID}`);
    for (const g of ['windows.md', 'hyperv.md']) expect(read(g)).toContain(`${VENDOR_ID} ${PRODUCT_ID} SCSI Disk Device`);
    expect(read('esxi.md')).toContain(`-V ${VENDOR_ID} -M ${PRODUCT_ID}`);
    expect(read('esxi.md')).toContain(`${VENDOR_ID} iSCSI Disk (naa.<naa>)`);
    expect(read('xenserver.md')).toContain(`<vendor>${VENDOR_ID}</vendor>`);
  });

  it('every iSCSI name they show is valid (RFC 3720), every target name one create accepts', () => {
    for (const [g, text] of all) {
      for (const m of text.matchAll(/\biqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9.:-]*[a-z0-9]/g)) {
        expect(() => validateInitiatorName(m[0]), `${g}: ${m[0]}`).not.toThrow();
        if (m[0].startsWith('iqn.2014-04.com.vstorage:')) expect(() => validateTargetName(m[0].split(':')[1]!), `${g}: ${m[0]}`).not.toThrow();
      }
    }
  });

  it('every vstorage-iscsi command they show exists with those options', () => {
    const program = buildProgram(new CliContext({ stdout: () => undefined, stderr: () => undefined, stdin: process.stdin, env: {} }));
    let seen = 0;
    // Code only: fenced blocks and `inline` spans.
    const code = (t: string) => [...t.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm), ...t.replace(/^```[\s\S]*?^```$/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).join('\n');
    for (const [g, text] of [...all, ['README.md', README] as const]) {
      for (const m of code(text).matchAll(/vstorage-iscsi ([a-z-]+)((?: -{1,2}[a-z-]+(?: [^\s`|-][^\s`|]*)?)*)/g)) {
        const cmd = program.commands.find((c) => c.name() === m[1]);
        expect(cmd, `${g}: vstorage-iscsi ${m[1]}`).toBeDefined();
        for (const f of m[2]!.match(/ -{1,2}[a-z-]+/g) ?? []) {
          expect(cmd!.options.some((o) => o.short === f.trim() || o.long === f.trim()), `${g}: vstorage-iscsi ${m[1]} ${f.trim()}`).toBe(true);
        }
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(5);
  });

  it('open-iscsi chap_algs names are algorithms the target offers', () => {
    const m = /node\.session\.auth\.chap_algs -v (\S+)/.exec(read('linux.md'))!;
    const openIscsi: Record<string, string> = { MD5: 'MD5', SHA1: 'SHA-1', SHA256: 'SHA-256', 'SHA3-256': 'SHA3-256' };
    const ours = SUPPORTED_CHAP_ALGORITHMS.map((id) => CHAP_ALGORITHMS[id].name);
    for (const a of m[1]!.split(',')) expect(ours).toContain(openIscsi[a]);
  });

  it('say what Windows needs of CHAP secrets, which the store allows', () => {
    expect(MIN_CHAP_SECRET_BYTES).toBeLessThanOrEqual(12);
    expect(MAX_CHAP_SECRET_BYTES).toBeGreaterThanOrEqual(16);
    expect(read('windows.md')).toContain('CHAP secrets of 12 to 16 characters');
  });
});
