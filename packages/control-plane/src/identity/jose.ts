/**
 * jose 6 is ESM-only. Node 20.19+ loads it with `require()`, which TypeScript's `module: node16`
 * cannot express with a static import from CommonJS: load it here, typed, once.
 */
type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' }});

export const jose: Jose = require('jose');

export type JSONWebKeySet = import('jose', { with: { 'resolution-mode': 'import' }}).JSONWebKeySet;
export type JWTPayload = import('jose', { with: { 'resolution-mode': 'import' }}).JWTPayload;
export type JWTVerifyOptions = import('jose', { with: { 'resolution-mode': 'import' }}).JWTVerifyOptions;
type Header = import('jose', { with: { 'resolution-mode': 'import' }}).ProtectedHeaderParameters;
export type ProtectedHeaderParameters = Header;
