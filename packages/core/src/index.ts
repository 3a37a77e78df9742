export * from './adapter/index';
export * from './config/yaml-source';
export * from './control';
export * from './errors';
export * from './framing/pg-frame-reader';
export * from './masking/config';
export * from './masking/masker';
export * from './sql/classify';
