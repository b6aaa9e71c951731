import { describe, expect, it } from 'vitest';
import type { EtcdStatus } from './etcd-ops.js';
import { etcdQuorum, judgeMemberRemoval } from './etcd-member-ops.js';

/** members as [name, healthy]; a name '' is a member added but never started */
function status(members: Array<[string, boolean]>): EtcdStatus {
  return {
    clusterId: 'c1',
    leader: '1',
    members: members.map(([name, healthy], i) => ({
      id: (i + 1).toString(16),
      name,
      peerUrls: [`https://10.0.0.${i + 1}:2380`],
      clientUrls: name === '' ? [] : [`https://10.0.0.${i + 1}:2379`],
      isLeader: i === 0,
      healthy,
    })),
    healthy: members.every(([, h]) => h),
  };
}

describe('judgeMemberRemoval', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
  ])('a cluster of %i members needs %i healthy ones', (size, need) => {
    expect(etcdQuorum(size)).toBe(need);
  });

  it.each<[string, Array<[string, boolean]>, string, string]>([
    [
      'removes a healthy member of three healthy ones',
      [
        ['a', true],
        ['b', true],
        ['c', true],
      ],
      'c',
      'remove',
    ],
    [
      'removes the one unhealthy member of three',
      [
        ['a', true],
        ['b', true],
        ['c', false],
      ],
      'c',
      'remove',
    ],
    [
      'removes a member of two healthy ones',
      [
        ['a', true],
        ['b', true],
      ],
      'b',
      'remove',
    ],
    [
      'reports a member not listed as absent',
      [
        ['a', true],
        ['b', true],
      ],
      'c',
      'absent',
    ],
    ['refuses the last member', [['a', true]], 'a', 'refuse'],
    [
      'refuses a healthy member when another of three is down',
      [
        ['a', true],
        ['b', false],
        ['c', true],
      ],
      'c',
      'refuse',
    ],
    [
      'refuses any member of two when one is down (no quorum to commit)',
      [
        ['a', true],
        ['b', false],
      ],
      'b',
      'refuse',
    ],
    [
      'refuses when most of five are down',
      [
        ['a', true],
        ['b', true],
        ['c', false],
        ['d', false],
        ['e', false],
      ],
      'e',
      'refuse',
    ],
    [
      'removes a down member of five when three others are up',
      [
        ['a', true],
        ['b', true],
        ['c', true],
        ['d', false],
        ['e', true],
      ],
      'd',
      'remove',
    ],
  ])('%s', (_title, members, name, kind) => {
    expect(judgeMemberRemoval(status(members), name).kind).toBe(kind);
  });

  it('finds a member that never started (no name) by its peer URL', () => {
    const s = status([
      ['a', true],
      ['b', true],
      ['c', true],
      ['', false],
    ]);
    const r = judgeMemberRemoval(s, 'd', 'https://10.0.0.4:2380');
    expect(r).toMatchObject({ kind: 'remove', member: { id: '4' }, remaining: 3 });
  });

  it('names the member, the counts and the unhealthy members when it refuses', () => {
    const r = judgeMemberRemoval(
      status([
        ['a', true],
        ['b', false],
        ['c', true],
      ]),
      'c',
    );
    expect(r).toEqual({
      kind: 'refuse',
      message: 'removing etcd member "c" would break quorum: 1 of the 2 member(s) left are healthy, 2 needed',
      remedy: 'bring the unhealthy members (b) back first (kctl etcd status)',
    });
    expect(judgeMemberRemoval(status([['a', true]]), 'a')).toMatchObject({
      message: expect.stringMatching(/"a" is the last member/),
    });
  });
});
