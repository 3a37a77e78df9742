export * from './harness/index';
