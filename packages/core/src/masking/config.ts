import { readFileSync } from 'node:fs';
import { builtinEntities, type CustomEntityOptions, type MaskingEngineOptions } from '@tollgate/native';
import type { Node } from 'yaml';
import type { YamlSource } from '../config/yaml-source';
import { Errors, TollgateError } from '../errors';

export const STYLES = ['full', 'last4', 'format', 'hash'] as const;
export type Style = (typeof STYLES)[number];

export const CUSTOM_VALIDATORS = ['luhn', 'iban', 'aba', 'ssn'] as const;

/** Where the key for the `hash` and `format` styles comes from; never the key itself in config. */
export type KeySource = { env: string } | { file: string };

/** The `masking:` section of a Tollgate config file. */
export interface MaskingConfig {
  /** Built-in entities to enable; all when absent. */
  entities?: string[];
  defaultStyle?: Style;
  styles?: Record<string, Style>;
  hashKey?: KeySource;
  custom?: Array<{
    name: string;
    pattern?: string;
    words?: string[];
    caseInsensitive?: boolean;
    validator?: (typeof CUSTOM_VALIDATORS)[number];
    style?: Style;
  }>;
}

export const BUILTIN_ENTITIES: readonly string[] = builtinEntities();

function checkStyle(src: YamlSource, node: Node | undefined, field: string): Style {
  const s = src.string(node, field);
  if (!(STYLES as readonly string[]).includes(s)) {
    throw src.error(node, field, `unknown style '${s}' (${STYLES.join(', ')})`);
  }
  return s as Style;
}

/** Reads and checks a `masking:` mapping; every error names the file, line and field. */
export function readMaskingConfig(src: YamlSource, node: Node, field = 'masking'): MaskingConfig {
  const m = src.map(node, field, ['entities', 'defaultStyle', 'styles', 'hashKey', 'custom']);
  const out: MaskingConfig = {};
  const entitiesNode = m.get('entities');
  if (entitiesNode !== undefined) {
    out.entities = src.strings(entitiesNode, `${field}.entities`);
    const items = src.list(entitiesNode, `${field}.entities`);
    out.entities.forEach((e, i) => {
      if (!BUILTIN_ENTITIES.includes(e)) {
        throw src.error(
          items[i],
          `${field}.entities[${i}]`,
          `unknown entity '${e}' (built-in: ${BUILTIN_ENTITIES.join(', ')})`,
        );
      }
    });
  }
  if (m.has('defaultStyle'))
    out.defaultStyle = checkStyle(src, m.get('defaultStyle'), `${field}.defaultStyle`);
  const customNames: string[] = [];
  const customNode = m.get('custom');
  if (customNode !== undefined) {
    out.custom = src.list(customNode, `${field}.custom`).map((n, i) => {
      const f = `${field}.custom[${i}]`;
      const c = src.map(n, f, ['name', 'pattern', 'words', 'caseInsensitive', 'validator', 'style']);
      const name = src.string(c.get('name'), `${f}.name`);
      const entry: NonNullable<MaskingConfig['custom']>[number] = { name };
      if (c.has('pattern')) entry.pattern = src.string(c.get('pattern'), `${f}.pattern`);
      if (c.has('words')) entry.words = src.strings(c.get('words'), `${f}.words`);
      if (c.has('caseInsensitive'))
        entry.caseInsensitive = src.boolean(c.get('caseInsensitive'), `${f}.caseInsensitive`);
      if (c.has('validator')) {
        const v = src.string(c.get('validator'), `${f}.validator`);
        if (!(CUSTOM_VALIDATORS as readonly string[]).includes(v)) {
          throw src.error(
            c.get('validator'),
            `${f}.validator`,
            `unknown validator '${v}' (${CUSTOM_VALIDATORS.join(', ')})`,
          );
        }
        entry.validator = v as (typeof CUSTOM_VALIDATORS)[number];
      }
      if (c.has('style')) entry.style = checkStyle(src, c.get('style'), `${f}.style`);
      if ((entry.pattern === undefined) === (entry.words === undefined)) {
        throw src.error(n, f, 'give exactly one of pattern or words');
      }
      customNames.push(name);
      return entry;
    });
  }
  const stylesNode = m.get('styles');
  if (stylesNode !== undefined) {
    const enabled = [...(out.entities ?? BUILTIN_ENTITIES), ...customNames];
    const s = src.map(stylesNode, `${field}.styles`, enabled);
    out.styles = {};
    for (const [k, v] of s) out.styles[k] = checkStyle(src, v, `${field}.styles.${k}`);
  }
  const keyNode = m.get('hashKey');
  if (keyNode !== undefined) {
    const k = src.map(keyNode, `${field}.hashKey`, ['env', 'file']);
    if (k.size !== 1) throw src.error(keyNode, `${field}.hashKey`, 'give exactly one of env or file');
    out.hashKey = k.has('env')
      ? { env: src.string(k.get('env'), `${field}.hashKey.env`) }
      : { file: src.string(k.get('file'), `${field}.hashKey.file`) };
  }
  return out;
}

/** Reads the hash key from its source. The key's value never appears in an error. */
export function loadKey(source: KeySource, env: NodeJS.ProcessEnv = process.env): Buffer {
  if ('env' in source) {
    const v = env[source.env];
    if (v === undefined || v === '') {
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `masking hash key: environment variable ${source.env} is not set`,
      );
    }
    return Buffer.from(v, 'utf8');
  }
  let key: Buffer;
  try {
    key = readFileSync(source.file);
  } catch (err) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `masking hash key: cannot read ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (key.length < 16) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `masking hash key: ${source.file} holds fewer than 16 bytes`,
    );
  }
  return key;
}

/** Turns a checked config into engine options. */
export function engineOptions(
  config: MaskingConfig,
  env: NodeJS.ProcessEnv = process.env,
): MaskingEngineOptions {
  const o: MaskingEngineOptions = {};
  if (config.entities) o.entities = config.entities;
  if (config.defaultStyle) o.defaultStyle = config.defaultStyle;
  if (config.styles) o.styles = config.styles;
  if (config.hashKey) o.hashKey = loadKey(config.hashKey, env);
  if (config.custom) {
    o.custom = config.custom.map((c) => {
      const e: CustomEntityOptions = { name: c.name };
      if (c.pattern !== undefined) e.pattern = c.pattern;
      if (c.words !== undefined) e.words = c.words;
      if (c.caseInsensitive !== undefined) e.caseInsensitive = c.caseInsensitive;
      if (c.validator !== undefined) e.validator = c.validator;
      if (c.style !== undefined) e.style = c.style;
      return e;
    });
  }
  return o;
}
