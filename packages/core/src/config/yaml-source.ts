import { readFileSync } from 'node:fs';
import type { Document, LineCounter, Node } from 'yaml';
import { Errors, TollgateError } from '../errors';

/**
 * The `yaml` module, loaded on first use: it is a quarter of the start-up time of commands that
 * read no config file (`tollgate mask` without `--config`).
 */
function yaml(): typeof import('yaml') {
  yamlModule ??= require('yaml') as typeof import('yaml');
  return yamlModule;
}
let yamlModule: typeof import('yaml') | undefined;

/**
 * A YAML config file read with positions, so that every error names the file, line, column
 * and field. Readers take a node and a dotted field path and refuse unknown fields.
 */
export class YamlSource {
  readonly file: string;
  readonly root: Node | null;
  readonly #lines: LineCounter;
  readonly #doc: Document;

  constructor(file: string, text: string) {
    this.file = file;
    this.#lines = new (yaml().LineCounter)();
    const doc = yaml().parseDocument(text, {
      lineCounter: this.#lines,
      prettyErrors: false,
      uniqueKeys: true,
    });
    const first = doc.errors[0];
    if (first) {
      const pos = this.#lines.linePos(first.pos[0]);
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `${file}:${pos.line}:${pos.col}: not valid YAML: ${first.message.split('\n')[0]}`,
      );
    }
    this.#doc = doc;
    this.root = (doc.contents as Node | null) ?? null;
  }

  /**
   * The whole document as plain data (mappings → objects, sequences → arrays), for validating
   * against a JSON Schema; map schema error paths back to positions with `nodeAt`.
   */
  toJS(): unknown {
    return this.#doc.toJS({ maxAliasCount: 100 });
  }

  /**
   * The node at `path` (mapping keys and sequence indexes from the root), or the deepest node
   * on the way there that exists. `key: true` gives the key node of the last mapping entry, to
   * point at a field name rather than its value.
   */
  nodeAt(path: readonly (string | number)[], opts?: { key?: boolean }): Node | null {
    let node: Node | null = this.root;
    for (let i = 0; i < path.length && node !== null; i++) {
      const seg = path[i];
      let next: Node | undefined;
      if (yaml().isMap(node)) {
        const pair = node.items.find((p) => yaml().isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair && opts?.key && i === path.length - 1) return pair.key as Node;
        next = (pair?.value as Node | null | undefined) ?? (pair?.key as Node | undefined);
      } else if (yaml().isSeq(node)) {
        next = node.items[Number(seg)] as Node | undefined;
      }
      if (next === undefined) return node;
      node = next;
    }
    return node;
  }

  static fromFile(file: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `${file}: cannot read config: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return new YamlSource(file, text);
  }

  /** An error pointing at `node`. */
  error(node: Node | null | undefined, field: string, message: string): TollgateError {
    const offset = node?.range?.[0];
    const where = offset === undefined ? this.file : `${this.file}:${this.#where(offset)}`;
    return new TollgateError(Errors.CONFIG_INVALID, `${where}: ${field}: ${message}`);
  }

  #where(offset: number): string {
    const p = this.#lines.linePos(offset);
    return `${p.line}:${p.col}`;
  }

  /** The fields of a mapping; any key outside `allowed` is an error naming it. */
  map(node: Node | null | undefined, field: string, allowed: readonly string[]): Map<string, Node> {
    if (!yaml().isMap(node)) throw this.error(node, field, 'expected a mapping');
    const out = new Map<string, Node>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const key = yaml().isScalar(keyNode) ? String(keyNode.value) : '';
      const path = field ? `${field}.${key}` : key;
      if (!allowed.includes(key)) {
        throw this.error(keyNode, path, `unknown field (allowed here: ${allowed.join(', ')})`);
      }
      out.set(key, pair.value as Node);
    }
    return out;
  }

  string(node: Node | undefined, field: string): string {
    if (!yaml().isScalar(node) || typeof node.value !== 'string')
      throw this.error(node, field, 'expected a string');
    return node.value;
  }

  boolean(node: Node | undefined, field: string): boolean {
    if (!yaml().isScalar(node) || typeof node.value !== 'boolean')
      throw this.error(node, field, 'expected true or false');
    return node.value;
  }

  /** A whole number from `min` to `max`; `unit` names it in the error ("of milliseconds"). */
  integer(node: Node | undefined, field: string, min: number, max: number, unit?: string): number {
    const v = yaml().isScalar(node) ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw this.error(
        node,
        field,
        `expected a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}`,
      );
    }
    return v;
  }

  list(node: Node | undefined, field: string): Node[] {
    if (!yaml().isSeq(node)) throw this.error(node, field, 'expected a list');
    return node.items as Node[];
  }

  strings(node: Node | undefined, field: string): string[] {
    return this.list(node, field).map((n, i) => this.string(n, `${field}[${i}]`));
  }
}
