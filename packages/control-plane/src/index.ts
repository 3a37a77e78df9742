export * from './store/database';
