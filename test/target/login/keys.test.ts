import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TARGET_LIMITS,
  KEY_TABLE,
  NegotiationError,
  OperationalNegotiator,
  defaultOperationalParams,
  findKey,
  isPrivateKey,
  negotiateBoolean,
  negotiateList,
  negotiateNumber,
  validateTargetLimits,
  type TargetLimits,
} from '../../../src/target/login/keys.js';

type P = [string, string];
const pairs = (...p: P[]) => p.map(([key, value]) => ({ key, value }));
const answers = (n: OperationalNegotiator, ...p: P[]) => Object.fromEntries(n.answer(pairs(...p)).map((a) => [a.key, a.value]));
const normal = (l: Partial<TargetLimits> = {}) => new OperationalNegotiator('Normal', { ...DEFAULT_TARGET_LIMITS, ...l });

describe('key table', () => {
  it('holds every RFC 7143 §13 key once, with consistent definitions', () => {
    const names = KEY_TABLE.map((k) => k.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'HeaderDigest', 'DataDigest', 'MaxConnections', 'SendTargets', 'TargetName', 'InitiatorName', 'TargetAlias',
      'InitiatorAlias', 'TargetAddress', 'TargetPortalGroupTag', 'InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength',
      'MaxBurstLength', 'FirstBurstLength', 'DefaultTime2Wait', 'DefaultTime2Retain', 'MaxOutstandingR2T', 'DataPDUInOrder',
      'DataSequenceInOrder', 'ErrorRecoveryLevel', 'SessionType', 'AuthMethod', 'TaskReporting', 'iSCSIProtocolLevel',
      'IFMarker', 'OFMarker', 'IFMarkInt', 'OFMarkInt',
    ]) {
      expect(findKey(n), n).toBeDefined();
    }
    for (const k of KEY_TABLE) {
      if (k.kind === 'min' || k.kind === 'max') {
        expect(k.range, k.name).toBeDefined();
        expect(k.ours, k.name).toBeDefined();
        const d = Number(k.default);
        expect(d >= k.range![0] && d <= k.range![1], k.name).toBe(true);
        const ours = k.ours!(DEFAULT_TARGET_LIMITS) as number;
        expect(ours >= k.range![0] && ours <= k.range![1], k.name).toBe(true);
      }
      if (k.kind === 'list') expect(k.values!.includes(k.default!), k.name).toBe(true);
      if (k.kind === 'and' || k.kind === 'or') expect(['Yes', 'No']).toContain(k.default);
    }
  });
  it('RFC defaults', () => {
    const d = (n: string) => findKey(n)!.default;
    expect([d('MaxRecvDataSegmentLength'), d('MaxBurstLength'), d('FirstBurstLength')]).toEqual(['8192', '262144', '65536']);
    expect([d('DefaultTime2Wait'), d('DefaultTime2Retain'), d('MaxOutstandingR2T'), d('ErrorRecoveryLevel')]).toEqual(['2', '20', '1', '0']);
    expect([d('InitialR2T'), d('ImmediateData'), d('DataPDUInOrder'), d('DataSequenceInOrder')]).toEqual(['Yes', 'Yes', 'Yes', 'Yes']);
    expect(defaultOperationalParams()).toMatchObject({ headerDigest: false, maxBurstLength: 262144, initiatorMaxRecvDataSegmentLength: 8192 });
  });
  it('private keys', () => {
    expect(isPrivateKey('X-com.example.foo')).toBe(true);
    expect(isPrivateKey('X#NodeArchitecture')).toBe(true);
    expect(isPrivateKey('Xfoo')).toBe(false);
  });
  it('validates limits', () => {
    expect(() => validateTargetLimits(DEFAULT_TARGET_LIMITS)).not.toThrow();
    expect(() => validateTargetLimits({ ...DEFAULT_TARGET_LIMITS, maxConnections: 2 })).toThrow(/maxConnections/);
    expect(() => validateTargetLimits({ ...DEFAULT_TARGET_LIMITS, errorRecoveryLevel: 1 })).toThrow(/errorRecoveryLevel/);
    expect(() => validateTargetLimits({ ...DEFAULT_TARGET_LIMITS, firstBurstLength: 2_000_000 })).toThrow(/firstBurstLength/);
    expect(() => validateTargetLimits({ ...DEFAULT_TARGET_LIMITS, maxRecvDataSegmentLength: 100 })).toThrow(/maxRecvDataSegmentLength/);
    expect(() => validateTargetLimits({ ...DEFAULT_TARGET_LIMITS, headerDigest: ['MD5'] })).toThrow(/headerDigest/);
  });
});

describe('negotiation rules (RFC 7143 §6.2)', () => {
  it('list: first of the offer we support; Reject if none', () => {
    expect(negotiateList('CRC32C,None', ['CRC32C', 'None'])).toEqual({ answer: 'CRC32C', result: 'CRC32C' });
    expect(negotiateList('None,CRC32C', ['CRC32C', 'None'])).toEqual({ answer: 'None', result: 'None' });
    expect(negotiateList('MD5,CRC32C', ['CRC32C', 'None'])).toEqual({ answer: 'CRC32C', result: 'CRC32C' });
    expect(negotiateList('CRC32C', ['None'])).toEqual({ answer: 'Reject' });
  });
  it('numerical: accept, clamp, reject', () => {
    expect(negotiateNumber('min', '65536', 262144, [512, 16777215])).toEqual({ answer: '65536', result: 65536 });
    expect(negotiateNumber('min', '16776192', 262144, [512, 16777215])).toEqual({ answer: '262144', result: 262144 });
    expect(negotiateNumber('max', '0', 2, [0, 3600])).toEqual({ answer: '2', result: 2 });
    expect(negotiateNumber('max', '10', 2, [0, 3600])).toEqual({ answer: '10', result: 10 });
    expect(negotiateNumber('min', '0x10000', 262144, [512, 16777215])).toEqual({ answer: '65536', result: 65536 });
    expect(negotiateNumber('min', '511', 262144, [512, 16777215])).toEqual({ answer: 'Reject' });
    expect(negotiateNumber('min', '16777216', 262144, [512, 16777215])).toEqual({ answer: 'Reject' });
    expect(negotiateNumber('min', 'lots', 262144, [512, 16777215])).toEqual({ answer: 'Reject' });
  });
  it('boolean AND / OR', () => {
    expect(negotiateBoolean('and', 'Yes', true)).toEqual({ answer: 'Yes', result: true });
    expect(negotiateBoolean('and', 'Yes', false)).toEqual({ answer: 'No', result: false });
    expect(negotiateBoolean('and', 'No', true)).toEqual({ answer: 'No', result: false });
    expect(negotiateBoolean('or', 'No', true)).toEqual({ answer: 'Yes', result: true });
    expect(negotiateBoolean('or', 'No', false)).toEqual({ answer: 'No', result: false });
    expect(negotiateBoolean('or', 'Yes', false)).toEqual({ answer: 'Yes', result: true });
    expect(negotiateBoolean('or', 'maybe', false)).toEqual({ answer: 'Reject' });
  });
});

describe('OperationalNegotiator', () => {
  it('answers a typical open-iscsi offer', () => {
    const n = normal();
    const a = answers(
      n,
      ['HeaderDigest', 'CRC32C,None'],
      ['DataDigest', 'None'],
      ['MaxConnections', '1'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
      ['MaxBurstLength', '16776192'],
      ['FirstBurstLength', '262144'],
      ['DefaultTime2Wait', '0'],
      ['DefaultTime2Retain', '0'],
      ['MaxOutstandingR2T', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['ErrorRecoveryLevel', '0'],
      ['IFMarker', 'No'],
      ['OFMarker', 'No'],
    );
    expect(a).toEqual({
      HeaderDigest: 'CRC32C',
      DataDigest: 'None',
      MaxConnections: '1',
      InitialR2T: 'No',
      ImmediateData: 'Yes',
      MaxBurstLength: '1048576',
      FirstBurstLength: '65536',
      DefaultTime2Wait: '2',
      DefaultTime2Retain: '0',
      MaxOutstandingR2T: '1',
      DataPDUInOrder: 'Yes',
      DataSequenceInOrder: 'Yes',
      ErrorRecoveryLevel: '0',
      IFMarker: 'No',
      OFMarker: 'No',
    });
    expect(n.params()).toEqual({
      ...defaultOperationalParams(),
      headerDigest: true,
      initialR2T: false,
      maxBurstLength: 1048576,
      defaultTime2Retain: 0,
      initiatorMaxRecvDataSegmentLength: 262144,
    });
  });

  it('InitialR2T: the initiator decides by default; a target requiring R2T forces Yes (OR)', () => {
    expect(answers(normal(), ['InitialR2T', 'No'])).toEqual({ InitialR2T: 'No' });
    expect(answers(normal(), ['InitialR2T', 'Yes'])).toEqual({ InitialR2T: 'Yes' });
    expect(answers(normal({ initialR2T: true }), ['InitialR2T', 'No'])).toEqual({ InitialR2T: 'Yes' });
  });

  it('keeps the order of the offer in the answer', () => {
    const n = normal();
    expect(n.answer(pairs(['FirstBurstLength', '8192'], ['MaxBurstLength', '4096'])).map((p) => p.key)).toEqual(['FirstBurstLength', 'MaxBurstLength']);
  });

  it('FirstBurstLength never exceeds MaxBurstLength, whatever the order', () => {
    const n = normal();
    const a = answers(n, ['FirstBurstLength', '65536'], ['MaxBurstLength', '4096']);
    expect(a).toEqual({ FirstBurstLength: '4096', MaxBurstLength: '4096' });
    expect(n.params()).toMatchObject({ firstBurstLength: 4096, maxBurstLength: 4096 });
  });

  it('MaxConnections negotiates down to 1; ErrorRecoveryLevel to 0', () => {
    const n = normal();
    expect(answers(n, ['MaxConnections', '8'], ['ErrorRecoveryLevel', '2'])).toEqual({ MaxConnections: '1', ErrorRecoveryLevel: '0' });
    expect(n.params()).toMatchObject({ maxConnections: 1, errorRecoveryLevel: 0 });
  });

  it('FirstBurstLength is Irrelevant with InitialR2T=Yes and ImmediateData=No (§13.14)', () => {
    const n = normal({ initialR2T: true });
    expect(answers(n, ['InitialR2T', 'Yes'], ['ImmediateData', 'No'], ['FirstBurstLength', '65536'])).toEqual({
      InitialR2T: 'Yes',
      ImmediateData: 'No',
      FirstBurstLength: 'Irrelevant',
    });
  });

  it('session keys are Irrelevant in a Discovery session', () => {
    const n = new OperationalNegotiator('Discovery', DEFAULT_TARGET_LIMITS);
    expect(
      answers(n, ['MaxBurstLength', '65536'], ['InitialR2T', 'No'], ['MaxConnections', '1'], ['HeaderDigest', 'None'], ['DefaultTime2Wait', '2'], ['MaxRecvDataSegmentLength', '32768']),
    ).toEqual({ MaxBurstLength: 'Irrelevant', InitialR2T: 'Irrelevant', MaxConnections: 'Irrelevant', HeaderDigest: 'None', DefaultTime2Wait: '2' });
    expect(n.params()).toMatchObject({ maxBurstLength: 262144, initiatorMaxRecvDataSegmentLength: 32768 });
    expect(n.proposals(new Set())).toEqual([]);
  });

  it('unknown and private keys: NotUnderstood; target-only and FFP-only keys: Reject', () => {
    const n = normal();
    expect(
      answers(n, ['X-com.example.foo', '1'], ['X#NodeArchitecture', 'Linux'], ['FooBar', '1'], ['TargetAlias', 'x'], ['TargetPortalGroupTag', '1'], ['SendTargets', 'All']),
    ).toEqual({
      'X-com.example.foo': 'NotUnderstood',
      'X#NodeArchitecture': 'NotUnderstood',
      FooBar: 'NotUnderstood',
      TargetAlias: 'Reject',
      TargetPortalGroupTag: 'Reject',
      SendTargets: 'Reject',
    });
  });

  it('obsolete marker keys (RFC 7143 §13, obsoleted keys)', () => {
    expect(answers(normal(), ['IFMarker', 'Yes'], ['OFMarker', 'No'], ['IFMarkInt', '2048~8192'], ['OFMarkInt', '2048'])).toEqual({
      IFMarker: 'No',
      OFMarker: 'No',
      IFMarkInt: 'Reject',
      OFMarkInt: 'Reject',
    });
  });

  it('invalid values are rejected and keep the default', () => {
    const n = normal();
    expect(answers(n, ['MaxBurstLength', '100'], ['ImmediateData', 'maybe'], ['HeaderDigest', 'MD5'], ['MaxRecvDataSegmentLength', '99'])).toEqual({
      MaxBurstLength: 'Reject',
      ImmediateData: 'Reject',
      HeaderDigest: 'Reject',
      MaxRecvDataSegmentLength: 'Reject',
    });
    expect(n.params()).toMatchObject({ maxBurstLength: 262144, immediateData: true, headerDigest: false, initiatorMaxRecvDataSegmentLength: 8192 });
  });

  it('declarations: our MaxRecvDataSegmentLength once', () => {
    const n = normal({ maxRecvDataSegmentLength: 65536 });
    expect(n.declarations()).toEqual([{ key: 'MaxRecvDataSegmentLength', value: '65536' }]);
    expect(n.declarations()).toEqual([]);
    expect(n.params().targetMaxRecvDataSegmentLength).toBe(65536);
    expect(normal().params().targetMaxRecvDataSegmentLength).toBe(8192);
  });

  it('TaskReporting and iSCSIProtocolLevel', () => {
    const n = normal();
    expect(answers(n, ['TaskReporting', 'FastAbort,RFC3720'], ['iSCSIProtocolLevel', '2'])).toEqual({ TaskReporting: 'RFC3720', iSCSIProtocolLevel: '1' });
    expect(answers(normal(), ['TaskReporting', 'FastAbort'])).toEqual({ TaskReporting: 'Reject' });
    expect(answers(normal(), ['RDMAExtensions', 'Yes'])).toEqual({ RDMAExtensions: 'No' });
  });

  describe('target proposals when an RFC default exceeds our limits', () => {
    it('none with default limits', () => {
      expect(normal().proposals(new Set())).toEqual([]);
    });
    it('proposes what the initiator did not negotiate', () => {
      const n = normal({ maxBurstLength: 65536, firstBurstLength: 16384, immediateData: false, headerDigest: ['CRC32C'], defaultTime2Wait: 5 });
      const p = n.proposals(new Set(['HeaderDigest']));
      expect(p).toEqual([
        { key: 'ImmediateData', value: 'No' },
        { key: 'MaxBurstLength', value: '65536' },
        { key: 'FirstBurstLength', value: '16384' },
      ]);
      expect(n.awaitingReplies).toBe(true);
      expect(n.proposals(new Set())).toEqual([]);
      expect(n.answer(pairs(['ImmediateData', 'No'], ['MaxBurstLength', '32768'], ['FirstBurstLength', '16384']))).toEqual([]);
      expect(n.awaitingReplies).toBe(false);
      expect(n.params()).toMatchObject({ immediateData: false, maxBurstLength: 32768, firstBurstLength: 16384, defaultTime2Wait: 2 });
    });
    it('harmless defaults are not proposed', () => {
      expect(normal({ defaultTime2Retain: 0, defaultTime2Wait: 5 }).proposals(new Set())).toEqual([]);
    });
    it('an inadmissible reply is a protocol error', () => {
      const n = normal({ maxBurstLength: 65536 });
      n.proposals(new Set());
      expect(() => n.answer(pairs(['MaxBurstLength', '262144']))).toThrow(NegotiationError);
      const m = normal({ immediateData: false });
      m.proposals(new Set());
      expect(() => m.answer(pairs(['ImmediateData', 'Yes']))).toThrow(NegotiationError);
      const d = normal({ headerDigest: ['CRC32C'] });
      expect(d.proposals(new Set())).toEqual([{ key: 'HeaderDigest', value: 'CRC32C' }]);
      expect(() => d.answer(pairs(['HeaderDigest', 'Reject']))).toThrow(NegotiationError);
    });
  });
});
