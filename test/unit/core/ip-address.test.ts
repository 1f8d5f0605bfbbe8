// An address's IP family (src/ip-address.ts): what node:net's isIP says, without node's IPv6 expression.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { ipFamily } from '../../../src/ip-address';

test('ipFamily tells IPv4, IPv6 and anything else apart as isIP does', () => {
  const cases: Array<[string, 0 | 4 | 6]> = [
    ['198.51.100.12', 4],
    ['0.0.0.0', 4],
    ['198.51.100.12/32', 0],
    ['198.51.100', 0],
    ['256.1.1.1', 0],
    ['::1', 6],
    ['::', 6],
    ['fe80::1%eth0', 6],
    ['::ffff:192.0.2.1', 6],
    ['1:2:3:4:5:6:7:8', 6],
    ['1:2:3:4:5:6:7::', 6],
    ['1::2:3:4:5:6:7', 6],
    ['1:2:3:4:5:6:192.0.2.1', 6],
    ['::1/128', 0],
    ['2001:db8::/32', 0],
    ['2001:db8::1 ffff:ffff::', 0],
    ['1:2:3:4:5:6:7:8:9', 0],
    ['1::2::3', 0],
    ['12345::', 0],
    ['::ffff:01.2.3.4', 0],
    ['[::1]', 0],
    [':1', 0],
    ['fe80::1%', 0],
    ['fe80::1%eth 0', 0],
    [':: 1', 0],
    ['::\t1', 0],
    ['db1.example.com', 0],
    ['samenet', 0],
    ['', 0],
  ];
  for (const [text, family] of cases) {
    assert.equal(ipFamily(text), family, text);
    assert.equal(ipFamily(text), isIP(text), `${text}: as node:net's isIP`);
  }
});

test('ipFamily agrees with isIP on 40,000 strings made of address pieces', () => {
  // A fixed pseudo-random sequence: the same strings at every run.
  let seed = 20261202;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pieces = ['', '0', '1', 'a', 'ff', 'FFFF', '12345', 'g', ':', '::', '.', '1.2.3.4', '255.255.255.255', '256.0.0.1', '01.2.3.4', '%eth0', '%', '/64', ' ', 'fe80', 'db8'];
  for (let i = 0; i < 40_000; i++) {
    const count = 1 + next(10);
    let text = '';
    for (let j = 0; j < count; j++) text += pieces[next(pieces.length)] + (next(3) === 0 ? '' : ':');
    assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
  }
});
