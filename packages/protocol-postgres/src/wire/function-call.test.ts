import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildFunctionCall,
  buildFunctionCallResponse,
  parseFunctionCall,
  parseFunctionCallResponse,
} from './function-call';
import { fuzzParse, violation } from './testing';

describe('FunctionCall (F)', () => {
  it('round-trips arguments, NULL and formats', () => {
    const m = {
      functionOid: 2974,
      argFormats: [1],
      args: [Buffer.from([0, 0, 0, 1]), null],
      resultFormat: 1,
    };
    assert.deepEqual(parseFunctionCall(buildFunctionCall(m)), { type: 'FunctionCall', ...m });
  });

  it('refuses format counts that match neither one nor the arguments', () => {
    const m = buildFunctionCall({ functionOid: 1, argFormats: [0, 0], args: [null], resultFormat: 0 });
    assert.throws(() => parseFunctionCall(m), violation(/2 argument format codes for 1 arguments/));
    fuzzParse(
      buildFunctionCall({ functionOid: 1, argFormats: [], args: [Buffer.from('x')], resultFormat: 0 }),
      parseFunctionCall,
    );
  });
});

describe('FunctionCallResponse (B)', () => {
  it('round-trips a value and NULL', () => {
    assert.deepEqual(parseFunctionCallResponse(buildFunctionCallResponse(Buffer.from('42'))), {
      type: 'FunctionCallResponse',
      value: Buffer.from('42'),
    });
    assert.deepEqual(parseFunctionCallResponse(buildFunctionCallResponse(null)), {
      type: 'FunctionCallResponse',
      value: null,
    });
  });
});
