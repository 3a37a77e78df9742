// Dispatch of frontend (F) messages after start-up: one parser per type byte.
import { type Bind, parseBind } from './bind';
import { openMessage, violation } from './buffer';
import { type Close, parseClose } from './close';
import { codeName, FrontendCode } from './codes';
import { type Flush, parseFlush, parseSync, parseTerminate, type Sync, type Terminate } from './control';
import {
  type CopyData,
  type CopyDone,
  type CopyFail,
  parseCopyData,
  parseCopyDone,
  parseCopyFail,
} from './copy';
import { type Describe, parseDescribe } from './describe';
import { type Execute, parseExecute } from './execute';
import { type FunctionCall, parseFunctionCall } from './function-call';
import { type Parse, parseParse } from './parse';
import { parseQuery, type Query } from './query';

/**
 * A 'p' message whose meaning depends on the authentication request in force: read it with
 * `parsePasswordMessage`, `parseSASLInitialResponse` or `parseSASLResponse`.
 */
export interface PasswordData {
  readonly type: 'PasswordData';
  /** The body (after type byte and length), as a view. */
  readonly body: Buffer;
}

export type FrontendMessage =
  | Query
  | Parse
  | Bind
  | Describe
  | Execute
  | Sync
  | Flush
  | Close
  | CopyData
  | CopyDone
  | CopyFail
  | FunctionCall
  | Terminate
  | PasswordData;

export type FrontendType = FrontendMessage['type'];

/**
 * Parses one whole frontend message (type byte, int32 length, body — as PgFrameReader delivers
 * it). An unknown type byte or a malformed body is a PROTOCOL_VIOLATION naming the message and
 * the fault.
 */
export function parseFrontend(msg: Buffer): FrontendMessage {
  switch (msg[0]) {
    case FrontendCode.Query:
      return parseQuery(msg);
    case FrontendCode.Parse:
      return parseParse(msg);
    case FrontendCode.Bind:
      return parseBind(msg);
    case FrontendCode.Describe:
      return parseDescribe(msg);
    case FrontendCode.Execute:
      return parseExecute(msg);
    case FrontendCode.Sync:
      return parseSync(msg);
    case FrontendCode.Flush:
      return parseFlush(msg);
    case FrontendCode.Close:
      return parseClose(msg);
    case FrontendCode.CopyData:
      return parseCopyData(msg);
    case FrontendCode.CopyDone:
      return parseCopyDone(msg);
    case FrontendCode.CopyFail:
      return parseCopyFail(msg);
    case FrontendCode.FunctionCall:
      return parseFunctionCall(msg);
    case FrontendCode.Terminate:
      return parseTerminate(msg);
    case FrontendCode.PasswordData:
      return {
        type: 'PasswordData',
        body: openMessage(msg, FrontendCode.PasswordData, 'PasswordMessage').rest(),
      };
    default:
      throw violation(
        msg.length === 0
          ? 'empty frontend message'
          : `unknown frontend message type ${codeName(msg[0] as number)}`,
      );
  }
}
