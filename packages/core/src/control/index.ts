export * from './approvals';
export * from './audit';
export * from './credentials';
export * from './identity';
export * from './memory';
export * from './policy';
