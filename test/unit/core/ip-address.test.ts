// An address's IP family (src/ip-address.ts): what Node's isIP says, IPv6 tested only for text with a ':'.
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
    ['fe80::1%eth0', 6],
    ['::ffff:192.0.2.1', 6],
    ['2001:db8::/32', 0],
    ['2001:db8::1 ffff:ffff::', 0],
    ['db1.example.com', 0],
    ['samenet', 0],
    ['', 0],
  ];
  for (const [text, family] of cases) {
    assert.equal(ipFamily(text), family, text);
    assert.equal(ipFamily(text), isIP(text), `${text}: as node:net's isIP`);
  }
});
