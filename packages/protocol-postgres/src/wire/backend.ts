// Dispatch of backend (B) messages: one parser per type byte.
import { type Authentication, parseAuthentication } from './auth';
import { type BindComplete, parseBindComplete } from './bind';
import { violation } from './buffer';
import { type CloseComplete, parseCloseComplete } from './close';
import { BackendCode, codeName } from './codes';
import {
  type CommandComplete,
  type EmptyQueryResponse,
  parseCommandComplete,
  parseEmptyQueryResponse,
} from './command-complete';
import {
  type CopyData,
  type CopyDone,
  type CopyResponse,
  parseCopyData,
  parseCopyDone,
  parseCopyResponse,
} from './copy';
import { type ErrorResponse, type NoticeResponse, parseErrorResponse, parseNoticeResponse } from './error';
import { type PortalSuspended, parsePortalSuspended } from './execute';
import { type FunctionCallResponse, parseFunctionCallResponse } from './function-call';
import { type NotificationResponse, parseNotificationResponse } from './notification';
import { type ParseComplete, parseParseComplete } from './parse';
import {
  type DataRow,
  type NoData,
  type ParameterDescription,
  parseDataRow,
  parseNoData,
  parseParameterDescription,
  parseRowDescription,
  type RowDescription,
} from './row';
import { type NegotiateProtocolVersion, parseNegotiateProtocolVersion } from './startup';
import {
  type BackendKeyData,
  type ParameterStatus,
  parseBackendKeyData,
  parseParameterStatus,
  parseReadyForQuery,
  type ReadyForQuery,
} from './status';

export type BackendMessage =
  | Authentication
  | BackendKeyData
  | BindComplete
  | CloseComplete
  | CommandComplete
  | CopyData
  | CopyDone
  | CopyResponse
  | DataRow
  | EmptyQueryResponse
  | ErrorResponse
  | FunctionCallResponse
  | NegotiateProtocolVersion
  | NoData
  | NoticeResponse
  | NotificationResponse
  | ParameterDescription
  | ParameterStatus
  | ParseComplete
  | PortalSuspended
  | ReadyForQuery
  | RowDescription;

export type BackendType = BackendMessage['type'];

/**
 * Parses one whole backend message. The data path does not call this per DataRow (rows go to
 * the native masker in chunks); it is for the messages the gateway inspects and for tests.
 */
export function parseBackend(msg: Buffer): BackendMessage {
  switch (msg[0]) {
    case BackendCode.Authentication:
      return parseAuthentication(msg);
    case BackendCode.BackendKeyData:
      return parseBackendKeyData(msg);
    case BackendCode.BindComplete:
      return parseBindComplete(msg);
    case BackendCode.CloseComplete:
      return parseCloseComplete(msg);
    case BackendCode.CommandComplete:
      return parseCommandComplete(msg);
    case BackendCode.CopyData:
      return parseCopyData(msg);
    case BackendCode.CopyDone:
      return parseCopyDone(msg);
    case BackendCode.CopyInResponse:
    case BackendCode.CopyOutResponse:
    case BackendCode.CopyBothResponse:
      return parseCopyResponse(msg);
    case BackendCode.DataRow:
      return parseDataRow(msg);
    case BackendCode.EmptyQueryResponse:
      return parseEmptyQueryResponse(msg);
    case BackendCode.ErrorResponse:
      return parseErrorResponse(msg);
    case BackendCode.FunctionCallResponse:
      return parseFunctionCallResponse(msg);
    case BackendCode.NegotiateProtocolVersion:
      return parseNegotiateProtocolVersion(msg);
    case BackendCode.NoData:
      return parseNoData(msg);
    case BackendCode.NoticeResponse:
      return parseNoticeResponse(msg);
    case BackendCode.NotificationResponse:
      return parseNotificationResponse(msg);
    case BackendCode.ParameterDescription:
      return parseParameterDescription(msg);
    case BackendCode.ParameterStatus:
      return parseParameterStatus(msg);
    case BackendCode.ParseComplete:
      return parseParseComplete(msg);
    case BackendCode.PortalSuspended:
      return parsePortalSuspended(msg);
    case BackendCode.ReadyForQuery:
      return parseReadyForQuery(msg);
    case BackendCode.RowDescription:
      return parseRowDescription(msg);
    default:
      throw violation(
        msg.length === 0
          ? 'empty backend message'
          : `unknown backend message type ${codeName(msg[0] as number)}`,
      );
  }
}
