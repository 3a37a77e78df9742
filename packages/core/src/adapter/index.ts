export * from './adapter';
export * from './listener';
export * from './pipeline';
