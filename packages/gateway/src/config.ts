import { type MaskingConfig, readMaskingConfig, YamlSource } from '@tollgate/core';

/** The gateway's config file. Sections are added as the gateway grows; unknown ones are errors. */
export interface GatewayConfig {
  masking?: MaskingConfig;
}

export const TOP_LEVEL_FIELDS = ['masking'] as const;

export function loadConfig(file: string): GatewayConfig {
  return parseConfig(YamlSource.fromFile(file));
}

export function parseConfig(src: YamlSource): GatewayConfig {
  if (src.root === null) return {};
  const top = src.map(src.root, '', TOP_LEVEL_FIELDS);
  const out: GatewayConfig = {};
  const masking = top.get('masking');
  if (masking !== undefined) out.masking = readMaskingConfig(src, masking);
  return out;
}
