// Authentication: AuthenticationXXX (B, 'R'); PasswordMessage, SASLInitialResponse and
// SASLResponse (F, all 'p' — the authentication request in force tells them apart).

import { cstringLength, MessageWriter, openMessage, violation } from './buffer';
import { AuthCode, BackendCode, FrontendCode } from './codes';

/** An authentication request or outcome from the server; `type` names it, `code` is the wire's request code. */
export type Authentication =
  | { readonly type: 'AuthenticationOk'; readonly code: 0 }
  | { readonly type: 'AuthenticationCleartextPassword'; readonly code: 3 }
  | { readonly type: 'AuthenticationMD5Password'; readonly code: 5; readonly salt: Buffer }
  | { readonly type: 'AuthenticationSASL'; readonly code: 10; readonly mechanisms: string[] }
  | { readonly type: 'AuthenticationSASLContinue'; readonly code: 11; readonly data: Buffer }
  | { readonly type: 'AuthenticationSASLFinal'; readonly code: 12; readonly data: Buffer }
  /** KerberosV5, SCMCredential, GSS, GSSContinue, SSPI or an unknown code: carried, not interpreted. */
  | { readonly type: 'AuthenticationOther'; readonly code: number; readonly data: Buffer };

/** Names of the request codes the gateway does not implement, for error messages. */
export const AUTH_METHOD_NAMES: Readonly<Record<number, string>> = {
  [AuthCode.KerberosV5]: 'Kerberos V5',
  [AuthCode.SCMCredential]: 'SCM credential',
  [AuthCode.GSS]: 'GSSAPI',
  [AuthCode.GSSContinue]: 'GSSAPI',
  [AuthCode.SSPI]: 'SSPI',
};

/** Parses any Authentication message: the request code, then its data. */
export function parseAuthentication(msg: Buffer): Authentication {
  const r = openMessage(msg, BackendCode.Authentication, 'Authentication');
  const code = r.int32('request code');
  let m: Authentication;
  switch (code) {
    case AuthCode.Ok:
      m = { type: 'AuthenticationOk', code };
      break;
    case AuthCode.CleartextPassword:
      m = { type: 'AuthenticationCleartextPassword', code };
      break;
    case AuthCode.MD5Password:
      m = { type: 'AuthenticationMD5Password', code, salt: r.bytes(4, 'salt') };
      break;
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const name = r.cstring('SASL mechanism');
        if (name === '') break;
        mechanisms.push(name);
      }
      m = { type: 'AuthenticationSASL', code, mechanisms };
      break;
    }
    case AuthCode.SASLContinue:
      return { type: 'AuthenticationSASLContinue', code, data: r.rest() };
    case AuthCode.SASLFinal:
      return { type: 'AuthenticationSASLFinal', code, data: r.rest() };
    default:
      return { type: 'AuthenticationOther', code, data: r.rest() };
  }
  r.done();
  return m;
}

export function buildAuthenticationOk(): Buffer {
  return new MessageWriter(BackendCode.Authentication, 4).int32(AuthCode.Ok).finish();
}

export function buildAuthenticationCleartextPassword(): Buffer {
  return new MessageWriter(BackendCode.Authentication, 4).int32(AuthCode.CleartextPassword).finish();
}

export function buildAuthenticationMD5Password(salt: Uint8Array): Buffer {
  if (salt.length !== 4) throw violation(`MD5 salt must be 4 bytes, not ${salt.length}`);
  return new MessageWriter(BackendCode.Authentication, 8).int32(AuthCode.MD5Password).bytes(salt).finish();
}

export function buildAuthenticationSASL(mechanisms: readonly string[]): Buffer {
  let body = 4 + 1;
  for (const m of mechanisms) body += cstringLength(m);
  const w = new MessageWriter(BackendCode.Authentication, body).int32(AuthCode.SASL);
  for (const m of mechanisms) w.cstring(m, 'SASL mechanism');
  return w.byte(0).finish();
}

export function buildAuthenticationSASLContinue(data: Uint8Array): Buffer {
  return new MessageWriter(BackendCode.Authentication, 4 + data.length)
    .int32(AuthCode.SASLContinue)
    .bytes(data)
    .finish();
}

export function buildAuthenticationSASLFinal(data: Uint8Array): Buffer {
  return new MessageWriter(BackendCode.Authentication, 4 + data.length)
    .int32(AuthCode.SASLFinal)
    .bytes(data)
    .finish();
}

export interface PasswordMessage {
  readonly type: 'PasswordMessage';
  /** Cleartext password, or `md5…` hash; also the gateway token an agent presents. */
  readonly password: string;
}

export interface SASLInitialResponse {
  readonly type: 'SASLInitialResponse';
  readonly mechanism: string;
  /** The client-first-message; null when the client sent none (length -1). */
  readonly data: Buffer | null;
}

export interface SASLResponse {
  readonly type: 'SASLResponse';
  readonly data: Buffer;
}

/** Reads a 'p' message as a PasswordMessage (after AuthenticationCleartextPassword or MD5Password). */
export function parsePasswordMessage(msg: Buffer): PasswordMessage {
  const r = openMessage(msg, FrontendCode.PasswordData, 'PasswordMessage');
  const password = r.cstring('password');
  r.done();
  return { type: 'PasswordMessage', password };
}

/** Reads a 'p' message as a SASLInitialResponse (the first answer to AuthenticationSASL). */
export function parseSASLInitialResponse(msg: Buffer): SASLInitialResponse {
  const r = openMessage(msg, FrontendCode.PasswordData, 'SASLInitialResponse');
  const mechanism = r.cstring('mechanism');
  const data = r.lengthPrefixed('initial response');
  r.done();
  return { type: 'SASLInitialResponse', mechanism, data };
}

/** Reads a 'p' message as a SASLResponse (an answer to AuthenticationSASLContinue). */
export function parseSASLResponse(msg: Buffer): SASLResponse {
  const r = openMessage(msg, FrontendCode.PasswordData, 'SASLResponse');
  return { type: 'SASLResponse', data: r.rest() };
}

/** The password is written as given; the result holds it, so never log it. */
export function buildPasswordMessage(password: string): Buffer {
  return new MessageWriter(FrontendCode.PasswordData, cstringLength(password))
    .cstring(password, 'password')
    .finish();
}

export function buildSASLInitialResponse(mechanism: string, data: Uint8Array | null): Buffer {
  return new MessageWriter(FrontendCode.PasswordData, cstringLength(mechanism) + 4 + (data?.length ?? 0))
    .cstring(mechanism, 'mechanism')
    .lengthPrefixed(data)
    .finish();
}

export function buildSASLResponse(data: Uint8Array): Buffer {
  return new MessageWriter(FrontendCode.PasswordData, data.length).bytes(data).finish();
}
