import { describe, expect, it } from 'vitest';
import { parseEtcdJson } from './etcdctl.js';
import { etcdStatusFrom } from './etcd-status-ops.js';

// etcdctl 3.4.23's own output (-w json) of a three-member cluster whose third member is down
const MEMBER_LIST =
  '{"header":{"cluster_id":3458157864245630807,"member_id":1654818993570247861,"raft_term":2},"members":[{"ID":1654818993570247861,"name":"m1","peerURLs":["https://127.0.0.1:23801"],"clientURLs":["https://127.0.0.1:23791"]},{"ID":7031166718905174318,"name":"m3","peerURLs":["https://127.0.0.1:23803"],"clientURLs":["https://127.0.0.1:23793"]},{"ID":10152022657631960081,"name":"m2","peerURLs":["https://127.0.0.1:23802"],"clientURLs":["https://127.0.0.1:23792"]}]}';
const ENDPOINT_STATUS =
  '[{"Endpoint":"https://127.0.0.1:23791","Status":{"header":{"cluster_id":3458157864245630807,"member_id":1654818993570247861,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":1654818993570247861,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}},{"Endpoint":"https://127.0.0.1:23792","Status":{"header":{"cluster_id":3458157864245630807,"member_id":10152022657631960081,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":1654818993570247861,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}}]';
const ENDPOINT_HEALTH =
  '[{"endpoint":"https://127.0.0.1:23791","health":true,"took":"10.5ms"},{"endpoint":"https://127.0.0.1:23792","health":true,"took":"9.8ms"},{"endpoint":"https://127.0.0.1:23793","health":false,"took":"4.0s","error":"context deadline exceeded"}]';

const status = (list = MEMBER_LIST, st = ENDPOINT_STATUS, health = ENDPOINT_HEALTH) =>
  etcdStatusFrom(
    parseEtcdJson(list) as Parameters<typeof etcdStatusFrom>[0],
    parseEtcdJson(st) as Parameters<typeof etcdStatusFrom>[1],
    parseEtcdJson(health) as Parameters<typeof etcdStatusFrom>[2],
  );

describe('etcd status from etcdctl output', () => {
  it('keeps uint64 member ids exact and prints them in hex as etcdctl member list does', () => {
    const s = status();
    // 10152022657631960081 is above 2^53: as a JavaScript number it would end in ...0000
    expect(s.members.map((m) => BigInt(`0x${m.id}`).toString())).toEqual([
      '1654818993570247861',
      '7031166718905174318',
      '10152022657631960081',
    ]);
    expect(s.members.map((m) => m.id)).toEqual(['16f7191b6752f4b5', '6193b8e0cce4492e', '8ce33ad1c3debc11']);
    expect(s.clusterId).toBe(BigInt('3458157864245630807').toString(16));
    expect(s.leader).toBe('16f7191b6752f4b5');
  });

  it('joins status and health per member and judges the cluster unhealthy when one member is down', () => {
    const s = status();
    expect(s.healthy).toBe(false);
    const byName = Object.fromEntries(s.members.map((m) => [m.name, m]));
    expect(byName.m1).toMatchObject({
      isLeader: true,
      healthy: true,
      dbSizeBytes: 20480,
      raftTerm: 2,
      raftIndex: 8,
    });
    expect(byName.m2).toMatchObject({ isLeader: false, healthy: true, version: '3.4.23' });
    expect(byName.m3).toMatchObject({ healthy: false, error: 'context deadline exceeded' });
    expect(byName.m3?.dbSizeBytes).toBeUndefined();
  });

  const allHealthy = ENDPOINT_HEALTH.replace('"health":false', '"health":true');
  const noLeader = ENDPOINT_STATUS.replaceAll('"leader":1654818993570247861', '"leader":0');
  it.each([
    ['every member healthy with a leader', true, allHealthy, ENDPOINT_STATUS],
    ['no member knows a leader', false, allHealthy, noLeader],
    ['endpoint health printed nothing', false, '[]', ENDPOINT_STATUS],
  ])('%s: healthy is %s', (_what, healthy, health, st) => {
    expect(status(MEMBER_LIST, st, health).healthy).toBe(healthy);
  });

  it('a member added but not started has no client URL and is unhealthy', () => {
    const list = `${MEMBER_LIST.slice(0, -2)},{"ID":42,"name":"","peerURLs":["https://127.0.0.1:23804"]}]}`;
    const m = status(list).members.find((x) => x.id === '2a');
    expect(m).toMatchObject({
      name: '',
      healthy: false,
      error: 'not started: the member has no client URL yet',
    });
  });
});
