import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvRequests, envAllowed } from './session';

describe('env requests', () => {
  it('matches exact names and trailing-* prefixes only', () => {
    assert.equal(envAllowed(['LANG', 'LC_*'], 'LANG'), true);
    assert.equal(envAllowed(['LANG', 'LC_*'], 'LC_ALL'), true);
    assert.equal(envAllowed(['LANG', 'LC_*'], 'LANGUAGE'), false);
    assert.equal(envAllowed([], 'LANG'), false);
  });

  it('keeps allowed values, lists refused names once, and never audits values', () => {
    const env = new EnvRequests(['LANG', 'TG_*']);
    assert.equal(env.offer('LANG', 'C.UTF-8'), true);
    assert.equal(env.offer('TG_MODE', 'blue'), true);
    assert.equal(env.offer('AWS_SECRET_ACCESS_KEY', 'hunter2'), false);
    assert.equal(env.offer('AWS_SECRET_ACCESS_KEY', 'hunter2'), false);
    assert.equal(env.offer('TG_X=Y', 'z'), false, 'not a variable name');
    assert.deepEqual(env.passed(), { LANG: 'C.UTF-8', TG_MODE: 'blue' });
    assert.deepEqual(env.audit(), {
      env: ['LANG', 'TG_MODE'],
      envRefused: ['AWS_SECRET_ACCESS_KEY', 'TG_X=Y'],
    });
    assert.doesNotMatch(JSON.stringify(env.audit()), /hunter2|C\.UTF-8/);
    assert.equal(new EnvRequests([]).passed(), undefined);
    assert.deepEqual(new EnvRequests([]).audit(), {});
  });

  it('bounds how many requests a channel may make', () => {
    const env = new EnvRequests(['V*']);
    for (let i = 0; i < 64; i++) assert.equal(env.offer(`V${i}`, 'x'), true);
    assert.equal(env.offer('V64', 'x'), false);
    assert.equal(Object.keys(env.passed() ?? {}).length, 64);
  });
});
