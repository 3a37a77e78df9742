export { main } from './cli';
export * from './config';
export * from './mask-command';
