export { API_KEY_PREFIX } from './api-key';
export { TokenAuthenticator, type TokenAuthenticatorOptions } from './authenticator';
export {
  buildIdentity,
  type GatewayTokensConfig,
  type IdentityConfig,
  type IdentityRuntime,
  loadSigningKey,
  readIdentityConfig,
} from './config';
export { GatewayTokens, type GatewayTokensOptions } from './gateway-tokens';
export {
  DEFAULT_OIDC_ALGORITHMS,
  type OidcIssuerConfig,
  OidcVerifier,
  type OidcVerifierOptions,
} from './oidc';
export { SamlExchange, type SamlExchangeConfig, type SamlExchangeResult } from './saml';
export {
  type CreateServiceAccount,
  type ServiceAccount,
  type ServiceAccountSshKey,
  ServiceAccounts,
} from './service-accounts';
export { parseOpenSshPublicKey, type SshPublicKey, sshFingerprint } from './ssh-key';
