/**
 * PostgreSQL wire protocol 3.0 codecs: one module per message family, each with `parseX(msg)`
 * (a whole message Buffer → typed object; malformed → TollgateError PROTOCOL_VIOLATION) and
 * `buildX(…)` (→ a whole message Buffer, allocated once at its exact size).
 *
 * Direction: (F) frontend, client → server; (B) backend, server → client. The gateway parses F
 * from agents and builds F to forward to targets; it parses B from targets and builds B for its
 * own answers. Variable-length values (Bind parameters, CopyData, DataRow columns) are views
 * into the message, not copies.
 */
export * from './auth';
export * from './backend';
export * from './bind';
export * from './close';
export * from './codes';
export * from './command-complete';
export * from './control';
export * from './copy';
export * from './describe';
export * from './error';
export * from './execute';
export * from './frontend';
export * from './function-call';
export * from './notification';
export * from './parse';
export * from './query';
export * from './row';
export * from './startup';
export * from './status';
