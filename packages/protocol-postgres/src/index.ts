export { PostgresAdapter } from './adapter';
export type { CapturedResult } from './session/capture';
export { CatalogNames, type CatalogNamesOptions, CatalogRegistry, type TableNames } from './session/catalog';
export type { ClassifiedStatement, SqlClassifier } from './session/classify';
export { ResultMasking, TYPE_NAMES } from './session/masking';
export { type PostgresAdapterOptions, SCAN_EVERYTHING } from './session/session';
export * from './target/index';
export * from './wire/index';
