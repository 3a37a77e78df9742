import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { md5PasswordHash } from './md5';

describe('md5PasswordHash', () => {
  it("is md5 + md5(md5(password + user) + salt), as PostgreSQL's md5 method expects", () => {
    // computed independently (Python hashlib)
    assert.equal(
      md5PasswordHash('alice', 's3cret', Buffer.from([1, 2, 3, 4])),
      'md5b79948bbeb35dee03ab8fe15a839030b',
    );
  });
});
