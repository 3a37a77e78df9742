export * from './metrics';
export * from './openapi';
export * from './router';
export * from './routes';
export * from './server';
