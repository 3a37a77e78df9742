/**
 * A shell-word parser for SSH exec commands: enough of the POSIX shell grammar to list every
 * program a command line runs, so that policy can decide on each. It is deliberately
 * conservative: when it is unsure, it lists more programs (a stricter decision), and it refuses
 * (throws `ShellParseError`) what it cannot read — unterminated quotes, `case` statements,
 * nesting beyond `MAX_DEPTH`.
 *
 * Understood: words, single and double quotes, backslash escapes, comments, `;` `&` `&&` `||`
 * `|` `|&` newlines, `( … )` and `{ … }` groups, redirections (their targets are not programs),
 * `VAR=value` prefixes, reserved words (`if`, `while`, `for … in …`, …), command substitution
 * `$( … )` and backquotes, process substitution `<( … )` / `>( … )`, and payloads run by other
 * programs: `sh -c`/`bash -c` (and other shells), `eval`, `su -c`, `env -S`, `watch`, and the
 * wrapped program of `sudo`, `env`, `nice`, `nohup`, `time`, `timeout`, `xargs`, `exec`,
 * `command`, `builtin`, `stdbuf`, `ionice`, `chroot`, `find -exec`, all parsed recursively.
 */

export class ShellParseError extends Error {
  override readonly name = 'ShellParseError';
}

/** One simple command: its words after assignments and redirections were taken out. */
export interface SimpleCommand {
  readonly argv: readonly string[];
}

export interface ParsedCommandLine {
  /**
   * Every program the line runs, without duplicates, in the order the shell would start them
   * (substitutions before the command that uses them). A program written with a path
   * (`/bin/rm`) is listed as written and by its base name (`rm`).
   */
  readonly programs: readonly string[];
  /** Every simple command, including those inside substitutions and payloads. */
  readonly commands: readonly SimpleCommand[];
}

/** Nesting bound for groups, substitutions and payloads. */
export const MAX_DEPTH = 8;
/** Longest command line accepted. */
export const MAX_LENGTH = 256 * 1024;

type Token =
  | { readonly t: 'word'; readonly value: string }
  | { readonly t: 'op'; readonly value: string }
  | { readonly t: 'redir'; readonly value: string };

const OPERATORS = ['&&', '||', ';;', '|&', '&>>', '&>', '>>', '<<-', '<<<', '<<', '<>', '>&', '<&', '>|'];
const SEPARATORS = new Set([';', '&', '&&', '||', '|', '|&', '\n', '(', ')', ';;']);
const SKIP_WORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  '!',
  '{',
  '}',
]);
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox', 'fish', 'csh', 'tcsh']);

/** Parses one command line. Throws `ShellParseError` with a message that says what is wrong. */
export function parseCommandLine(text: string): ParsedCommandLine {
  if (text.length > MAX_LENGTH) throw new ShellParseError(`command longer than ${MAX_LENGTH} bytes`);
  const out: Collector = { programs: [], seen: new Set(), commands: [] };
  parseInto(text, 0, out);
  return { programs: out.programs, commands: out.commands };
}

interface Collector {
  programs: string[];
  seen: Set<string>;
  commands: SimpleCommand[];
}

function parseInto(text: string, depth: number, out: Collector): void {
  if (depth > MAX_DEPTH) throw new ShellParseError(`command nests deeper than ${MAX_DEPTH} levels`);
  const tokens = tokenize(text, depth, out);
  let words: string[] = [];
  let redirectNext = false;
  const flush = () => {
    if (words.length) simpleCommand(words, depth, out);
    words = [];
  };
  for (const tok of tokens) {
    if (tok.t === 'op') {
      flush();
      continue;
    }
    if (tok.t === 'redir') {
      redirectNext = true;
      continue;
    }
    if (redirectNext) {
      redirectNext = false;
      continue;
    }
    words.push(tok.value);
  }
  if (redirectNext) throw new ShellParseError('a redirection has no target');
  flush();
}

function simpleCommand(words: string[], depth: number, out: Collector): void {
  let i = 0;
  for (;;) {
    const w = words[i];
    if (w === undefined) return;
    if (SKIP_WORDS.has(w)) {
      i++;
      continue;
    }
    if (w === 'case') throw new ShellParseError('case statements are not supported');
    if (w === 'for' || w === 'select') return; // `for NAME in WORDS`: no program in it
    if (/^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(w)) {
      i++;
      continue;
    }
    break;
  }
  const argv = words.slice(i);
  out.commands.push({ argv });
  runProgram(argv, depth, out);
}

function addProgram(name: string, out: Collector): void {
  const names = [name];
  const slash = name.lastIndexOf('/');
  if (slash >= 0 && slash < name.length - 1) names.push(name.slice(slash + 1));
  for (const n of names) {
    if (!out.seen.has(n)) {
      out.seen.add(n);
      out.programs.push(n);
    }
  }
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Options of wrapper programs that take a separate argument. */
const WRAPPERS: Record<string, { readonly withArg: string; readonly positional?: number }> = {
  sudo: { withArg: 'ugCDhprtUT' },
  doas: { withArg: 'uC' },
  env: { withArg: 'uCP' },
  nice: { withArg: 'n' },
  nohup: { withArg: '' },
  time: { withArg: 'fo' },
  timeout: { withArg: 'sk', positional: 1 },
  xargs: { withArg: 'IEdLnPsa' },
  exec: { withArg: 'a' },
  command: { withArg: '' },
  builtin: { withArg: '' },
  stdbuf: { withArg: 'ioe' },
  ionice: { withArg: 'cnpPu' },
  chroot: { withArg: '', positional: 1 },
  setsid: { withArg: '' },
  unbuffer: { withArg: '' },
  flock: { withArg: 'wEc', positional: 1 },
  strace: { withArg: 'eopsuEI' },
  ltrace: { withArg: 'eopsuEn' },
  chrt: { withArg: '', positional: 1 },
  taskset: { withArg: '', positional: 1 },
  runuser: { withArg: 'ugc' },
};

function runProgram(argv: readonly string[], depth: number, out: Collector): void {
  const prog = argv[0];
  if (prog === undefined) return;
  addProgram(prog, out);
  const name = baseName(prog);
  const args = argv.slice(1);
  if (SHELLS.has(name)) {
    const payload = shellPayload(name === 'busybox' ? args.slice(1) : args);
    if (name === 'busybox' && args[0] !== undefined && !SHELLS.has(args[0])) {
      runProgram(args, depth + 1, out);
      return;
    }
    if (payload !== undefined) parseInto(payload, depth + 1, out);
    return;
  }
  if (name === 'eval') {
    parseInto(args.join(' '), depth + 1, out);
    return;
  }
  if (name === 'watch') {
    const rest = skipOptions(args, 'nd');
    if (rest.length) parseInto(rest.join(' '), depth + 1, out);
    return;
  }
  if (name === 'su') {
    const c = payloadAfter(args, ['-c', '--command']);
    if (c !== undefined) parseInto(c, depth + 1, out);
    return;
  }
  if (name === 'find') {
    findExec(args, depth, out);
    return;
  }
  if (name === 'env') {
    const s = payloadAfter(args, ['-S', '--split-string']);
    if (s !== undefined) parseInto(s, depth + 1, out);
  }
  const w = WRAPPERS[name];
  if (!w) return;
  let rest = skipOptions(args, w.withArg);
  if (name === 'env' || name === 'sudo') {
    while (rest[0] !== undefined && /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[0])) rest = rest.slice(1);
  }
  rest = rest.slice(w.positional ?? 0);
  if (rest.length) runProgram(rest, depth + 1, out);
}

/** The payload of `sh -c PAYLOAD` (also `-lc`, `-ec`, `-c` after other options). */
function shellPayload(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return undefined;
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(a)) {
      const payload = args[i + 1];
      if (payload === undefined) throw new ShellParseError(`${a} needs a command string`);
      return payload;
    }
    if (!a.startsWith('-') && !a.startsWith('+')) return undefined;
    if (a === '-o' || a === '+o' || a === '-O' || a === '+O') i++;
  }
  return undefined;
}

function payloadAfter(args: readonly string[], flags: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    for (const f of flags) {
      if (a === f) return args[i + 1] ?? '';
      if (f.startsWith('--') && a.startsWith(`${f}=`)) return a.slice(f.length + 1);
      if (!f.startsWith('--') && a.startsWith(f) && a.length > f.length) return a.slice(f.length);
    }
  }
  return undefined;
}

function skipOptions(args: readonly string[], withArg: string): string[] {
  let i = 0;
  while (i < args.length) {
    const a = args[i] as string;
    if (a === '--') return args.slice(i + 1);
    if (!a.startsWith('-') || a === '-') break;
    if (!a.startsWith('--') && a.length === 2 && withArg.includes(a[1] as string)) i += 2;
    else if (
      a.startsWith('--') &&
      !a.includes('=') &&
      /^--(user|group|signal|kill-after|adjustment|chdir|unset)$/.test(a)
    )
      i += 2;
    else i++;
  }
  return args.slice(i);
}

function findExec(args: readonly string[], depth: number, out: Collector): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-exec' || a === '-execdir' || a === '-ok' || a === '-okdir') {
      const end = args.findIndex((x, j) => j > i && (x === ';' || x === '+'));
      const cmd = args.slice(i + 1, end < 0 ? args.length : end);
      if (cmd.length) runProgram(cmd, depth + 1, out);
      i = end < 0 ? args.length : end;
    }
  }
}

// --- tokenizer ------------------------------------------------------------------------------

function tokenize(s: string, depth: number, out: Collector): Token[] {
  const tokens: Token[] = [];
  let word: string | undefined;
  const push = () => {
    if (word !== undefined) tokens.push({ t: 'word', value: word });
    word = undefined;
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t' || c === '\r') {
      push();
      i++;
      continue;
    }
    if (c === '#' && word === undefined) {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      if (s[i + 1] === '\n') {
        i += 2;
        continue;
      }
      if (i + 1 >= s.length) throw new ShellParseError('the command ends with a lone backslash');
      word = (word ?? '') + s[i + 1];
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShellParseError('unterminated single quote');
      word = (word ?? '') + s.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      const r = doubleQuoted(s, i + 1, depth, out);
      word = (word ?? '') + r.value;
      i = r.next;
      continue;
    }
    if (c === '`') {
      const r = backquoted(s, i + 1);
      parseInto(r.inner, depth + 1, out);
      word = `${word ?? ''}\`${r.inner}\``;
      i = r.next;
      continue;
    }
    if (c === '$') {
      const r = dollar(s, i, depth, out);
      word = (word ?? '') + r.value;
      i = r.next;
      continue;
    }
    if ((c === '<' || c === '>') && s[i + 1] === '(') {
      const end = matchParen(s, i + 2);
      parseInto(s.slice(i + 2, end), depth + 1, out);
      word = `${word ?? ''}${s.slice(i, end + 1)}`;
      i = end + 1;
      continue;
    }
    if (
      c === '<' ||
      c === '>' ||
      c === '|' ||
      c === '&' ||
      c === ';' ||
      c === '(' ||
      c === ')' ||
      c === '\n'
    ) {
      // `2>file`: a number right before a redirection is its file descriptor
      if ((c === '<' || c === '>') && word !== undefined && /^\d+$/.test(word)) word = undefined;
      push();
      const op = OPERATORS.find((o) => s.startsWith(o, i)) ?? c;
      i += op.length;
      if (op === '<<' || op === '<<-') throw new ShellParseError('here-documents are not supported');
      const redir = op.includes('<') || op.includes('>');
      tokens.push({ t: redir ? 'redir' : 'op', value: op });
      // `>&2`, `<&-`: the descriptor is the target
      continue;
    }
    word = (word ?? '') + c;
    i++;
  }
  push();
  return tokens.map((t) => (t.t === 'op' && !SEPARATORS.has(t.value) ? { t: 'redir', value: t.value } : t));
}

function doubleQuoted(
  s: string,
  start: number,
  depth: number,
  out: Collector,
): { value: string; next: number } {
  let value = '';
  let i = start;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '"') return { value, next: i + 1 };
    if (c === '\\' && i + 1 < s.length && '$`"\\\n'.includes(s[i + 1] as string)) {
      if (s[i + 1] !== '\n') value += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const r = backquoted(s, i + 1);
      parseInto(r.inner, depth + 1, out);
      value += `\`${r.inner}\``;
      i = r.next;
      continue;
    }
    if (c === '$') {
      const r = dollar(s, i, depth, out);
      value += r.value;
      i = r.next;
      continue;
    }
    value += c;
    i++;
  }
  throw new ShellParseError('unterminated double quote');
}

function backquoted(s: string, start: number): { inner: string; next: number } {
  let inner = '';
  for (let i = start; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      inner += '$`\\'.includes(s[i + 1] as string) ? s[i + 1] : c + s[i + 1];
      i++;
      continue;
    }
    if (c === '`') return { inner, next: i + 1 };
    inner += c;
  }
  throw new ShellParseError('unterminated backquote');
}

/** `$(…)` (parsed), `$((…))` (arithmetic, kept as text), `${…}`, `$NAME`. */
function dollar(s: string, i: number, depth: number, out: Collector): { value: string; next: number } {
  if (s.startsWith('$((', i)) {
    const end = matchParen(s, i + 2);
    return { value: s.slice(i, end + 1), next: end + 1 };
  }
  if (s[i + 1] === '(') {
    const end = matchParen(s, i + 2);
    parseInto(s.slice(i + 2, end), depth + 1, out);
    return { value: s.slice(i, end + 1), next: end + 1 };
  }
  if (s[i + 1] === '{') {
    const end = s.indexOf('}', i + 2);
    if (end < 0) throw new ShellParseError('unterminated ${');
    return { value: s.slice(i, end + 1), next: end + 1 };
  }
  return { value: '$', next: i + 1 };
}

/** Index of the `)` closing a `(` whose contents start at `start`; quotes are skipped. */
function matchParen(s: string, start: number): number {
  let level = 1;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShellParseError('unterminated single quote');
      i = end;
    } else if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === '\\') i++;
      if (i >= s.length) throw new ShellParseError('unterminated double quote');
    } else if (c === '(') level++;
    else if (c === ')' && --level === 0) return i;
  }
  throw new ShellParseError('unterminated $( or ( … )');
}
