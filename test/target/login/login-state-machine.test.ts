import { describe, expect, it } from 'vitest';
import { LoginStateMachine, LOGIN_MAX_DATA_SEGMENT_LENGTH, type LoginStep } from '../../../src/target/login/login-state-machine.js';
import { Opcode } from '../../../src/target/pdu/types.js';
import { ChapInitiator, decodeBinary } from '../../chap/helpers/chap-initiator.js';
import {
  INITIATOR,
  ISID,
  TARGET,
  TestInitiator,
  encodePairs,
  loginRequest,
  makeContext,
  parsePairs,
  runLogin,
  type ContextOptions,
} from './helpers/login-initiator.js';

const CHAP = { user: 'alice', secret: 'alice-secret-0001' };
const MUTUAL = { user: 'disk1', secret: 'target-secret-0002' };
const chapTarget = (extra: Partial<ContextOptions> = {}): ContextOptions => ({ targets: { [TARGET]: { policy: { chap: CHAP, mutual: MUTUAL } } }, ...extra });

function status(step: LoginStep): string {
  const r = step.response;
  return ((r.statusClass << 8) | r.statusDetail).toString(16).padStart(4, '0');
}
function expectFailure(step: LoginStep, st: string, code?: string): void {
  expect(step.kind).toBe('failure');
  expect(status(step)).toBe(st);
  expect(step.done && step.failed).toBe(true);
  expect(step.response.transit).toBe(false);
  if (code) expect(step.error!.code).toBe(code);
}
const decl: [string, string][] = [
  ['InitiatorName', INITIATOR],
  ['TargetName', TARGET],
  ['SessionType', 'Normal'],
];

describe('login without authentication', () => {
  it('security (None) -> operational -> full feature phase', () => {
    const ctx = makeContext();
    const ini = new TestInitiator(ctx);
    let ex = ini.send({ csg: 0, nsg: 1, transit: true, itt: 11, pairs: [...decl, ['InitiatorAlias', 'host1'], ['AuthMethod', 'None']] });
    expect(ex.last.kind).toBe('continue');
    const r = ex.last.response;
    expect(r).toMatchObject({ opcode: Opcode.LoginResponse, transit: true, continue: false, csg: 0, nsg: 1, versionMax: 0, versionActive: 0, tsih: 0, initiatorTaskTag: 11, statusClass: 0, statusDetail: 0 });
    expect(r.isid.equals(ISID)).toBe(true);
    expect([...ex.text]).toEqual([
      ['TargetPortalGroupTag', '1'],
      ['AuthMethod', 'None'],
    ]);

    ex = ini.send({ csg: 1, nsg: 3, transit: true, itt: 12, cmdSN: 9, pairs: [['HeaderDigest', 'CRC32C,None'], ['DataDigest', 'None'], ['MaxRecvDataSegmentLength', '131072'], ['MaxBurstLength', '16776192'], ['ImmediateData', 'Yes'], ['InitialR2T', 'No']] });
    const last = ex.last;
    expect(last.kind).toBe('success');
    if (last.kind !== 'success') return;
    expect(last.response).toMatchObject({ transit: true, csg: 1, nsg: 3, tsih: 0x1234, initiatorTaskTag: 12 });
    expect(last.tsih).toBe(0x1234);
    expect(Object.fromEntries(ex.text)).toEqual({
      HeaderDigest: 'CRC32C',
      DataDigest: 'None',
      MaxBurstLength: '1048576',
      ImmediateData: 'Yes',
      InitialR2T: 'No',
      MaxRecvDataSegmentLength: '262144',
    });
    expect(last.result).toMatchObject({
      sessionType: 'Normal',
      initiatorName: INITIATOR,
      initiatorAlias: 'host1',
      targetName: TARGET,
      isid: '801234560001',
      tsih: 0,
      cid: 0,
      cmdSN: 9,
      auth: { method: 'None', mutual: false },
      params: {
        headerDigest: true,
        dataDigest: false,
        maxBurstLength: 1048576,
        initialR2T: false,
        immediateData: true,
        initiatorMaxRecvDataSegmentLength: 131072,
        targetMaxRecvDataSegmentLength: 262144,
        maxConnections: 1,
        errorRecoveryLevel: 0,
      },
    });
    expect(last.result.isidBytes.equals(ISID)).toBe(true);
    expect(ctx.admitted).toHaveLength(1);
    expect(ini.sm.done).toBe(true);
    expect(() => ini.sm.handle(loginRequest({ csg: 1 }))).toThrow(/after the login finished/);
  });

  it('the initiator may skip the security stage when no authentication is required', () => {
    const out = runLogin(makeContext(), { skipSecurity: true });
    expect(out.last.kind).toBe('success');
    expect(out.text.get('TargetPortalGroupTag')).toBe('1');
  });

  it('the initiator may go from security straight to full feature phase', () => {
    const ini = new TestInitiator(makeContext());
    const ex = ini.send({ csg: 0, nsg: 3, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
    expect(ex.last.kind).toBe('success');
    expect(ex.last.response).toMatchObject({ csg: 0, nsg: 3, transit: true });
    // Operational stage skipped: RFC defaults, 8192 both ways.
    expect(ex.last.result!.params).toMatchObject({ initiatorMaxRecvDataSegmentLength: 8192, targetMaxRecvDataSegmentLength: 8192, maxBurstLength: 262144 });
  });

  it('no AuthMethod at all is fine when none is required', () => {
    const ini = new TestInitiator(makeContext());
    expect(ini.send({ csg: 0, nsg: 1, transit: true, pairs: decl }).last.response.transit).toBe(true);
  });

  it('initiator offering only CHAP to a target without accounts fails with 0x0201', () => {
    expectFailure(runLogin(makeContext(), { authMethod: 'CHAP' }).last, '0201', 'ISCSI_ERR_LOGIN_AUTHENTICATION');
  });

  it('sends TargetAlias when the target has one', () => {
    const out = runLogin(makeContext({ targets: { [TARGET]: { alias: 'disk one', tpgt: 7 } } }));
    expect(out.last.kind).toBe('success');
    expect(Object.fromEntries(out.initiator.log[0]!.text)).toMatchObject({ TargetPortalGroupTag: '7', TargetAlias: 'disk one' });
  });

  it('operational keys offered in the security stage are negotiated there', () => {
    const ini = new TestInitiator(makeContext());
    const ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None'], ['MaxBurstLength', '65536']] });
    expect(ex.text.get('MaxBurstLength')).toBe('65536');
    const done = ini.send({ csg: 1, nsg: 3, transit: true, pairs: [] });
    expect(done.last.result!.params.maxBurstLength).toBe(65536);
  });
});

describe('one-way and mutual CHAP', () => {
  for (const [alg, name] of [['5', 'MD5'], ['6', 'SHA-1'], ['7', 'SHA-256'], ['8', 'SHA3-256']] as const) {
    it(`one-way CHAP with ${name}`, () => {
      const ini = new TestInitiator(makeContext(chapTarget()));
      let ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'CHAP,None']] });
      expect(ex.text.get('AuthMethod')).toBe('CHAP');
      expect(ex.last.response.transit).toBe(false); // authentication not finished
      ex = ini.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', `${alg},5`]] });
      expect(ex.text.get('CHAP_A')).toBe(alg);
      expect(ex.text.get('CHAP_I')).toBe('1'); // deterministic random, seed 1
      expect(decodeBinary(ex.text.get('CHAP_C')!).length).toBe(alg === '5' ? 16 : alg === '6' ? 20 : 32);
      const chap = new ChapInitiator(CHAP);
      ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: chap.respond(ex.text) });
      expect(ex.last.response).toMatchObject({ transit: true, nsg: 1, statusClass: 0 });
      expect(ex.text.size).toBe(0);
      ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['MaxRecvDataSegmentLength', '65536']] });
      expect(ex.last.kind).toBe('success');
      expect(ex.last.result!.auth).toEqual({ method: 'CHAP', user: 'alice', algorithm: Number(alg), mutual: false });
    });
  }

  it('mutual CHAP: the target proves itself', () => {
    const out = runLogin(makeContext(chapTarget()), { chap: { ...CHAP, mutual: MUTUAL } });
    expect(out.last.kind).toBe('success');
    const challengeAnswer = out.initiator.log[2]!;
    expect(out.chap!.verifyTarget(challengeAnswer.text)).toBe(true);
    expect(out.last.result!.auth).toMatchObject({ method: 'CHAP', mutual: true, algorithm: 7 });
  });

  it('base64 responses are accepted', () => {
    expect(runLogin(makeContext(chapTarget()), { chap: { ...CHAP, encoding: 'base64' } }).last.kind).toBe('success');
  });

  it('AuthMethod and CHAP_A in one request', () => {
    const ini = new TestInitiator(makeContext(chapTarget()));
    const ex = ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['AuthMethod', 'CHAP'], ['CHAP_A', '5']] });
    expect(ex.text.get('AuthMethod')).toBe('CHAP');
    expect(ex.text.get('CHAP_A')).toBe('5');
    const ok = ini.send({ csg: 0, nsg: 1, transit: true, pairs: new ChapInitiator(CHAP).respond(ex.text) });
    expect(ok.last.response.transit).toBe(true);
  });

  it('wrong secret -> 0x0201', () => {
    const out = runLogin(makeContext(chapTarget()), { chap: { user: 'alice', secret: 'not-the-secret-1' } });
    expectFailure(out.last, '0201', 'ISCSI_ERR_LOGIN_AUTHENTICATION');
    expect(out.last.error!.detail).toBe('CHAP_ERR_BAD_RESPONSE');
  });

  it('wrong user -> 0x0201', () => {
    const out = runLogin(makeContext(chapTarget()), { chap: { user: 'bob', secret: CHAP.secret } });
    expectFailure(out.last, '0201');
    expect(out.last.error!.detail).toBe('CHAP_ERR_UNKNOWN_USER');
  });

  it('mutual requested but the target has no mutual account -> 0x0201', () => {
    const ctx = makeContext({ targets: { [TARGET]: { policy: { chap: CHAP } } } });
    const out = runLogin(ctx, { chap: { ...CHAP, mutual: MUTUAL } });
    expectFailure(out.last, '0201');
    expect(out.last.error!.detail).toBe('CHAP_ERR_NO_MUTUAL_SECRET');
  });

  it('reflected challenge -> 0x0201', () => {
    const ini = new TestInitiator(makeContext(chapTarget()));
    ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'CHAP']] });
    const ch = ini.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', '7']] });
    const chap = new ChapInitiator({ ...CHAP, mutual: { ...MUTUAL, challenge: decodeBinary(ch.text.get('CHAP_C')!), identifier: Number(ch.text.get('CHAP_I')) } });
    const ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: chap.respond(ch.text) });
    expectFailure(ex.last, '0201');
    expect(ex.last.error!.detail).toBe('CHAP_ERR_REFLECTED_CHALLENGE');
  });

  it('unsupported CHAP algorithms -> 0x0201', () => {
    const ini = new TestInitiator(makeContext({ ...chapTarget(), }));
    ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['AuthMethod', 'CHAP']] });
    expectFailure(ini.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', '128,129']] }).last, '0201');
    const only7 = new TestInitiator({ ...makeContext(chapTarget()), chapAlgorithms: [7] });
    only7.send({ csg: 0, nsg: 1, pairs: [...decl, ['AuthMethod', 'CHAP']] });
    expectFailure(only7.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', '5']] }).last, '0201');
  });

  describe('an initiator trying to skip CHAP', () => {
    it('offering only None -> 0x0201', () => {
      expectFailure(runLogin(makeContext(chapTarget()), { authMethod: 'None' }).last, '0201');
    });
    it('starting in the operational stage -> 0x0201', () => {
      expectFailure(runLogin(makeContext(chapTarget()), { skipSecurity: true }).last, '0201');
    });
    it('asking to transit without AuthMethod -> 0x0201', () => {
      const ini = new TestInitiator(makeContext(chapTarget()));
      expectFailure(ini.send({ csg: 0, nsg: 3, transit: true, pairs: decl }).last, '0201');
    });
    it('asking to transit before answering the challenge: the target stays, then fails the skip', () => {
      const ini = new TestInitiator(makeContext(chapTarget()));
      ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'CHAP']] });
      const ch = ini.send({ csg: 0, nsg: 1, transit: true, pairs: [['CHAP_A', '5']] });
      expect(ch.last.response.transit).toBe(false);
      expectFailure(ini.send({ csg: 1, nsg: 3, transit: true, pairs: [] }).last, '0200', 'ISCSI_ERR_LOGIN_PROTOCOL');
    });
    it('an empty answer to the challenge -> 0x0201', () => {
      const ini = new TestInitiator(makeContext(chapTarget()));
      ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['AuthMethod', 'CHAP']] });
      ini.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', '5']] });
      expectFailure(ini.send({ csg: 0, nsg: 1, transit: true, pairs: [] }).last, '0201');
    });
    it('CHAP_R before the challenge, or CHAP_A before AuthMethod -> 0x0200', () => {
      let ini = new TestInitiator(makeContext(chapTarget()));
      expectFailure(ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['CHAP_N', 'alice'], ['CHAP_R', '0x00']] }).last, '0200');
      ini = new TestInitiator(makeContext(chapTarget()));
      expectFailure(ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['CHAP_A', '5']] }).last, '0200');
    });
    it('authentication keys in the operational stage -> 0x0200', () => {
      const ini = new TestInitiator(makeContext());
      ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
      expectFailure(ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['CHAP_A', '5']] }).last, '0200');
    });
  });

  it('authorization is checked after authentication -> 0x0202', () => {
    const ctx = makeContext({ targets: { [TARGET]: { policy: { chap: CHAP }, allowed: (n) => n !== INITIATOR } } });
    const ini = new TestInitiator(ctx);
    expect(ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'CHAP']] }).last.kind).toBe('continue');
    const ch = ini.send({ csg: 0, nsg: 1, pairs: [['CHAP_A', '5']] });
    expect(ch.last.kind).toBe('continue');
    expectFailure(ini.send({ csg: 0, nsg: 1, transit: true, pairs: new ChapInitiator(CHAP).respond(ch.text) }).last, '0202', 'ISCSI_ERR_LOGIN_AUTHORIZATION');
    // Without authentication, refused at the first request.
    const open = makeContext({ targets: { [TARGET]: { allowed: () => false } } });
    expectFailure(runLogin(open).last, '0202');
    expect(runLogin(makeContext({ targets: { [TARGET]: { allowed: (n) => n === INITIATOR } } })).last.kind).toBe('success');
  });

  it('a CHAP secret that is too short is a target configuration error (0x0300)', () => {
    const out = runLogin(makeContext({ targets: { [TARGET]: { policy: { chap: { user: 'a', secret: 'short' } } } } }), { chap: { user: 'a', secret: 'short' } });
    expectFailure(out.last, '0300', 'ISCSI_ERR_LOGIN_CONFIGURATION');
    expect(out.last.reason).toMatch(/at least 12 bytes/);
    const same = runLogin(makeContext({ targets: { [TARGET]: { policy: { chap: CHAP, mutual: { user: 'x', secret: CHAP.secret } } } } }), { chap: CHAP });
    expectFailure(same.last, '0300');
  });
});

describe('targets and session types', () => {
  it('unknown target -> 0x0203', () => {
    expectFailure(runLogin(makeContext(), { targetName: 'iqn.2024-01.org.example:nope' }).last, '0203', 'ISCSI_ERR_LOGIN_TARGET_NOT_FOUND');
  });
  it('removed, moved, unavailable, out of resources', () => {
    const t = (u: object) => makeContext({ targets: { [TARGET]: { unavailable: u as never } } });
    expectFailure(runLogin(t({ unavailable: 'removed' })).last, '0204');
    const moved = runLogin(t({ unavailable: 'moved-temporarily', targetAddress: '10.0.0.2:3260,1' })).last;
    expectFailure(moved, '0101');
    expect(parsePairs(moved.response.data).get('TargetAddress')).toBe('10.0.0.2:3260,1');
    expectFailure(runLogin(t({ unavailable: 'moved-permanently', targetAddress: '[fe80::1]:3260,2' })).last, '0102');
    expectFailure(runLogin(t({ unavailable: 'service-unavailable' })).last, '0301');
    expectFailure(runLogin(t({ unavailable: 'out-of-resources' })).last, '0302');
  });
  it('missing InitiatorName -> 0x0207; Normal session without TargetName -> 0x0207', () => {
    expectFailure(runLogin(makeContext(), { initiatorName: null }).last, '0207', 'ISCSI_ERR_LOGIN_MISSING_PARAMETER');
    expectFailure(runLogin(makeContext(), { targetName: null }).last, '0207');
  });
  it('unknown SessionType -> 0x0209', () => {
    const ini = new TestInitiator(makeContext());
    expectFailure(ini.send({ csg: 0, nsg: 1, pairs: [['InitiatorName', INITIATOR], ['SessionType', 'Boot']] }).last, '0209');
  });
  it('discovery session: no TargetName, discovery authentication, session keys irrelevant', () => {
    const ctx = makeContext({ discovery: {} });
    const ini = new TestInitiator(ctx);
    let ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: [['InitiatorName', INITIATOR], ['SessionType', 'Discovery'], ['AuthMethod', 'None']] });
    expect(Object.fromEntries(ex.text)).toEqual({ AuthMethod: 'None' }); // no TargetPortalGroupTag outside Normal sessions
    ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['HeaderDigest', 'None'], ['MaxBurstLength', '65536'], ['MaxRecvDataSegmentLength', '32768']] });
    expect(ex.last.kind).toBe('success');
    expect(Object.fromEntries(ex.text)).toEqual({ HeaderDigest: 'None', MaxBurstLength: 'Irrelevant', MaxRecvDataSegmentLength: '262144' });
    expect(ex.last.result).toMatchObject({ sessionType: 'Discovery', target: undefined, targetName: undefined, params: { initiatorMaxRecvDataSegmentLength: 32768 } });
  });
  it('discovery with CHAP uses the discovery policy', () => {
    const ctx = makeContext({ discovery: { chap: CHAP } });
    expect(runLogin(ctx, { sessionType: 'Discovery', chap: CHAP }).last.kind).toBe('success');
    expectFailure(runLogin(makeContext({ discovery: { chap: CHAP } }), { sessionType: 'Discovery' }).last, '0201');
  });
  it('admission refusal is passed through (adding a connection: 0x0206)', () => {
    const ctx = makeContext({ admit: (r) => (r.tsih !== 0 ? { statusClass: 2, statusDetail: 6, reason: 'one connection per session' } : { tsih: 5 }) });
    const ini = new TestInitiator(ctx);
    const ex = ini.send({ csg: 1, nsg: 3, transit: true, tsih: 9, pairs: decl });
    expectFailure(ex.last, '0206', 'ISCSI_ERR_LOGIN_ADMISSION');
    expect(ex.last.reason).toBe('one connection per session');
    expect(ctx.admitted[0]!.tsih).toBe(9);
    const outOfResources = makeContext({ admit: () => ({ statusClass: 3, statusDetail: 2 }) });
    expectFailure(runLogin(outOfResources).last, '0302', 'ISCSI_ERR_LOGIN_RESOURCES');
  });
});

describe('header rules', () => {
  it('unsupported version -> 0x0205', () => {
    const ini = new TestInitiator(makeContext());
    expectFailure(ini.send({ csg: 0, nsg: 1, versionMin: 1, versionMax: 2, pairs: decl }).last, '0205', 'ISCSI_ERR_LOGIN_VERSION');
  });
  it('ISID, TSIH or CID must not change', () => {
    for (const change of [{ isid: Buffer.from([0x80, 0, 0, 0, 0, 2]) }, { tsih: 3 }, { cid: 1 }]) {
      const ini = new TestInitiator(makeContext());
      ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
      expectFailure(ini.send({ csg: 1, nsg: 3, transit: true, ...change }).last, '0200');
    }
  });
  it('the ITT may change and is echoed', () => {
    const ini = new TestInitiator(makeContext());
    expect(ini.send({ csg: 0, nsg: 1, transit: true, itt: 1, pairs: [...decl, ['AuthMethod', 'None']] }).last.response.initiatorTaskTag).toBe(1);
    expect(ini.send({ csg: 1, nsg: 3, transit: true, itt: 2 }).last.response.initiatorTaskTag).toBe(2);
  });
  it('stage rules', () => {
    const fresh = () => new TestInitiator(makeContext());
    expectFailure(fresh().send({ csg: 3, pairs: decl }).last, '0200'); // CSG 3 is not a login stage
    expectFailure(fresh().send({ csg: 2, pairs: decl }).last, '0200');
    expectFailure(fresh().send({ csg: 0, nsg: 2, transit: true, pairs: decl }).last, '0200');
    expectFailure(fresh().send({ csg: 1, nsg: 1, transit: true, pairs: decl }).last, '0200');
    expectFailure(fresh().send({ csg: 1, nsg: 0, transit: true, pairs: decl }).last, '0200');
    const ini = fresh();
    ini.send({ csg: 0, nsg: 1, pairs: [...decl, ['AuthMethod', 'None']] }); // no T: still stage 0
    expectFailure(ini.send({ csg: 1, nsg: 3, transit: true }).last, '0200');
    const back = fresh();
    back.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
    expectFailure(back.send({ csg: 0, nsg: 1, transit: true }).last, '0200'); // no way back to stage 0
  });
  it('without T the target does not transit', () => {
    const ini = new TestInitiator(makeContext());
    ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
    const ex = ini.send({ csg: 1, nsg: 3, transit: false, pairs: [['MaxBurstLength', '65536']] });
    expect(ex.last.response).toMatchObject({ transit: false, nsg: 0 });
    expect(ex.text.get('MaxRecvDataSegmentLength')).toBe('262144');
    const done = ini.send({ csg: 1, nsg: 3, transit: true });
    expect(done.last.kind).toBe('success');
    expect(done.text.size).toBe(0); // declared once
  });
  it('a key sent twice in one login -> 0x0200', () => {
    let ini = new TestInitiator(makeContext());
    ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None'], ['MaxBurstLength', '65536']] });
    expectFailure(ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['MaxBurstLength', '65536']] }).last, '0200', 'ISCSI_ERR_LOGIN_PROTOCOL');
    ini = new TestInitiator(makeContext());
    expectFailure(ini.send({ csg: 0, nsg: 1, data: Buffer.from(`InitiatorName=${INITIATOR}\0TargetName=${TARGET}\0TargetName=${TARGET}\0`) }).last, '0200');
    ini = new TestInitiator(makeContext());
    ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
    expectFailure(ini.send({ csg: 1, nsg: 3, pairs: [['TargetName', TARGET]] }).last, '0200');
  });
  it('malformed text -> 0x0200', () => {
    const ini = new TestInitiator(makeContext());
    expectFailure(ini.send({ csg: 0, nsg: 1, data: Buffer.from(`InitiatorName=${INITIATOR}\0garbage`) }).last, '0200');
  });
});

describe('continue bit', () => {
  it('C and T together -> 0x0200', () => {
    const ini = new TestInitiator(makeContext());
    expectFailure(ini.send({ csg: 0, nsg: 1, transit: true, continue: true, pairs: decl }).last, '0200');
  });

  it('requests split at every byte boundary are joined', () => {
    const data = encodePairs([...decl, ['AuthMethod', 'None']]);
    for (let cut = 0; cut <= data.length; cut++) {
      const sm = new LoginStateMachine(makeContext());
      const a = sm.handle(loginRequest({ csg: 0, nsg: 1, continue: true, data: data.subarray(0, cut) }));
      expect(a.kind).toBe('continue');
      expect(a.response).toMatchObject({ transit: false, continue: false, statusClass: 0 });
      expect(a.response.data.length).toBe(0);
      const b = sm.handle(loginRequest({ csg: 0, nsg: 1, transit: true, data: data.subarray(cut) }));
      expect(b.response.transit).toBe(true);
      expect(parsePairs(b.response.data).get('AuthMethod')).toBe('None');
    }
  });

  it('long text both ways: the request in C pieces, the answer in 8192-byte pieces pulled by empty requests', () => {
    const keys: [string, string][] = Array.from({ length: 400 }, (_, i) => [`X-com.example.vendor-specific-key-${String(i).padStart(4, '0')}`, 'v']);
    const request = encodePairs(keys);
    expect(request.length).toBeGreaterThan(2 * LOGIN_MAX_DATA_SEGMENT_LENGTH);
    const sm = new LoginStateMachine(makeContext());
    expect(sm.handle(loginRequest({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] })).response.transit).toBe(true);
    const pieces = [];
    for (let off = 0; off < request.length; off += LOGIN_MAX_DATA_SEGMENT_LENGTH) pieces.push(request.subarray(off, off + LOGIN_MAX_DATA_SEGMENT_LENGTH));
    for (const p of pieces.slice(0, -1)) {
      const s = sm.handle(loginRequest({ csg: 1, nsg: 3, continue: true, data: p }));
      expect(s.response).toMatchObject({ continue: false, transit: false });
      expect(s.response.data.length).toBe(0);
    }
    let step = sm.handle(loginRequest({ csg: 1, nsg: 3, transit: true, data: pieces.at(-1)! }));
    const answer: Buffer[] = [];
    let n = 0;
    while (step.kind === 'continue') {
      expect(step.response).toMatchObject({ continue: true, transit: false, nsg: 0 });
      expect(step.response.data.length).toBe(LOGIN_MAX_DATA_SEGMENT_LENGTH);
      answer.push(step.response.data);
      step = sm.handle(loginRequest({ csg: 1, nsg: 3, transit: true, data: Buffer.alloc(0) }));
      n++;
    }
    answer.push(step.response.data);
    expect(n).toBeGreaterThanOrEqual(2);
    expect(step.kind).toBe('success');
    expect(step.response).toMatchObject({ continue: false, transit: true, nsg: 3, tsih: 0x1234 });
    expect(step.response.data.length).toBeLessThanOrEqual(LOGIN_MAX_DATA_SEGMENT_LENGTH);
    const text = parsePairs(Buffer.concat(answer));
    expect(text.size).toBe(401);
    for (const [k] of keys) expect(text.get(k)).toBe('NotUnderstood');
    expect(text.get('MaxRecvDataSegmentLength')).toBe('262144');
  });

  it('data in a request while the target is still sending -> 0x0200', () => {
    const keys: [string, string][] = Array.from({ length: 300 }, (_, i) => [`X-k-${'z'.repeat(40)}-${i}`, 'v']);
    const sm = new LoginStateMachine(makeContext());
    sm.handle(loginRequest({ csg: 1, nsg: 3, continue: true, pairs: [...decl, ...keys.slice(0, 150)] }));
    const s = sm.handle(loginRequest({ csg: 1, nsg: 3, pairs: keys.slice(150) }));
    expect(s.response.continue).toBe(true);
    expectFailure(sm.handle(loginRequest({ csg: 1, nsg: 3, pairs: [['MaxBurstLength', '512']] })), '0200');
  });
});

describe('target proposals', () => {
  it('proposes MaxBurstLength when our limit is below the RFC default and the initiator did not send it', () => {
    const ini = new TestInitiator(makeContext({ limits: { maxBurstLength: 65536, firstBurstLength: 16384 } }));
    ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', 'None']] });
    let ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['MaxRecvDataSegmentLength', '8192']] });
    expect(ex.last.kind).toBe('continue');
    expect(ex.last.response.transit).toBe(false);
    expect(Object.fromEntries(ex.text)).toEqual({ MaxRecvDataSegmentLength: '262144', MaxBurstLength: '65536', FirstBurstLength: '16384' });
    ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: [['MaxBurstLength', '65536'], ['FirstBurstLength', '8192']] });
    expect(ex.last.kind).toBe('success');
    expect(ex.last.result!.params).toMatchObject({ maxBurstLength: 65536, firstBurstLength: 8192 });
  });
  it('runLogin answers proposals like a real initiator', () => {
    expect(runLogin(makeContext({ limits: { immediateData: false } })).last.result!.params.immediateData).toBe(false);
  });
  it('ignoring a proposal -> 0x0200', () => {
    const ini = new TestInitiator(makeContext({ limits: { maxBurstLength: 65536 } }));
    ini.send({ csg: 1, nsg: 3, transit: true, pairs: decl });
    expectFailure(ini.send({ csg: 1, nsg: 3, transit: true }).last, '0200');
  });
  it('invalid limits are refused when the state machine is built', () => {
    expect(() => new LoginStateMachine(makeContext({ limits: { maxConnections: 4 } }))).toThrow(RangeError);
  });
});
