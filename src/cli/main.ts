#!/usr/bin/env node
/**
 * `asya-state`: look at and change a connector's state by hand, over its socket.
 *
 *   asya-state [--socket PATH] <command> [options] [arguments]
 *
 * Exit codes (exit-codes.ts): 0 ok, 1 other failure, 2 usage, 3 not found, 4 conflict or
 * already exists, 5 permission denied, 6 invalid request, 7 unavailable, 8 timeout.
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { VERSION } from '../version.ts';
import { StateClient } from '../client/state-client.ts';
import { cat, ls, put, query, rm, stat, xattr } from './commands.ts';
import { EXIT, exitCodeOf } from './exit-codes.ts';

const USAGE = `usage: asya-state [--socket PATH] [--timeout MS] <command> [options] [arguments]

Commands (asya-state <command> --help for each):
  ls [DIR]                 list a directory (the root by default)
  cat KEY                  write an object to stdout
  put KEY [FILE|-]         store a file (or stdin) as an object
  rm KEY                   delete an object (-r: a directory and everything in it)
  stat KEY                 size, type, generation, modification time, content type
  query [PREFIX]           JSON documents under PREFIX, filtered and sorted by the connector
  xattr list|get|set KEY   attributes: url, signed_url, generation, metageneration, content_type, storage_class

The socket is --socket (before or after the command), else ASYA_STATE_SOCKET, else
CONNECTOR_SOCKET (set in the connector's own container), else run/state.sock (the local
demo's); a relative path is taken from the working directory. --version prints the version.
Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 conflict or exists, 5 permission denied,
6 invalid request, 7 unavailable, 8 timeout.`;

const HELP: Readonly<Record<string, string>> = {
  ls: `usage: asya-state ls [-l] [-R] [--json] [DIR]
  List DIR (mount-relative; the root when omitted). Directories end with "/". A DIR with
  nothing under it is "not found" (exit 3).
  -l, --long        type, size (as ls -lh: 5, 1.5K, 12M) and modification time (one HEAD per file)
  -R, --recursive   everything below DIR
  --json            one JSON array of {name, type[, size, modified]} (sizes in bytes)`,
  cat: `usage: asya-state cat [--progress|--no-progress] KEY
  Write the object KEY to stdout. A progress bar goes to stderr when it is a terminal
  and the object is over 1 MiB.`,
  put: `usage: asya-state put [--create|--if-none-match] [--if-match GEN] [--content-type TYPE] [--progress|--no-progress] KEY [FILE|-]
  Store FILE (or stdin, "-" or omitted) as the object KEY, streamed to the connector.
  A KEY ending in "/" names a directory and is refused.
  --create, --if-none-match   only if KEY does not exist yet (exit 4 if it does)
  --if-match GEN    only if KEY is still at generation GEN (stat shows it; exit 4 if not)
  --content-type    stored Content-Type (default application/octet-stream)`,
  rm: `usage: asya-state rm [-r] [-f] KEY
  Delete the object KEY.
  -r, --recursive   KEY is a directory: delete everything under it
  -f, --force       a missing KEY is not an error`,
  stat: `usage: asya-state stat [--json] KEY
  Print what is known of KEY: a file (size, generation, modification time, content
  type) or a directory (a prefix with objects under it, or the root "").
  --json            one JSON object`,
  query: `usage: asya-state query [--filter JSON] [--sort FIELDS] [--limit N] [--offset N] [PREFIX]
  Print {"rows": [...], "total": N}: the JSON documents under PREFIX (mount-relative,
  recursive; the whole mount when omitted) that match the filter, one JSON line.
  --filter JSON     field: value pairs that must all hold, e.g. '{"meta.owner": "ops", "age": {"$gt": 30}}'
                    (operators: $eq $ne $gt $gte $lt $lte $in $nin $exists)
  --sort FIELDS     comma-separated field names; a leading "-" sorts descending:
                    --sort=-age,name (with "=" when the first field starts with "-")
  --limit N         at most N rows (default and cap: 10000)
  --offset N        skip the first N rows
  What the connector left out (files not JSON or too large, files past its caps) goes to stderr.`,
  xattr: `usage: asya-state xattr list KEY
       asya-state xattr get KEY NAME
       asya-state xattr set KEY NAME VALUE
  Attributes of an object: url, signed_url, generation, metageneration, content_type,
  storage_class (only content_type can be set).`,
};

class UsageError extends Error {}

interface ParsedCommand {
  readonly values: Record<string, unknown>;
  readonly positionals: string[];
}

/** A command: its options, how many arguments it takes, and what it does with them. */
interface Command {
  readonly options: ParseArgsOptionsConfig;
  readonly arguments: readonly [min: number, max: number];
  run(client: StateClient, parsed: ParsedCommand): Promise<void>;
}

const out = { stdout: process.stdout };

const COMMANDS: Readonly<Record<string, Command>> = {
  ls: {
    options: { long: { type: 'boolean', short: 'l' }, recursive: { type: 'boolean', short: 'R' }, json: { type: 'boolean' } },
    arguments: [0, 1],
    run: (client, { values, positionals }) => ls(client, positionals[0] ?? '', { long: values.long === true, recursive: values.recursive === true, json: values.json === true }, out),
  },
  cat: {
    options: { progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' } },
    arguments: [1, 1],
    run: (client, { values, positionals }) => cat(client, positionals[0] ?? '', { progress: progressFlag(values) }, out),
  },
  put: {
    options: { create: { type: 'boolean' }, 'if-none-match': { type: 'boolean' }, 'if-match': { type: 'string' }, 'content-type': { type: 'string' }, progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' } },
    arguments: [1, 2],
    run: (client, { values, positionals }) => put(client, positionals[0] ?? '', positionals[1], {
      contentType: stringOption(values['content-type']),
      create: values.create === true || values['if-none-match'] === true,
      ifMatch: generationOption(values['if-match']),
      progress: progressFlag(values),
    }, process.stdin),
  },
  rm: {
    options: { recursive: { type: 'boolean', short: 'r' }, force: { type: 'boolean', short: 'f' } },
    arguments: [1, 1],
    run: (client, { values, positionals }) => rm(client, positionals[0] ?? '', { recursive: values.recursive === true, force: values.force === true }),
  },
  stat: {
    options: { json: { type: 'boolean' } },
    arguments: [1, 1],
    run: (client, { values, positionals }) => stat(client, positionals[0] ?? '', { json: values.json === true }, out),
  },
  query: {
    options: { filter: { type: 'string' }, sort: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } },
    arguments: [0, 1],
    run: (client, { values, positionals }) => query(client, {
      prefix: positionals[0] ?? '',
      ...jsonOption(values.filter, '--filter'),
      ...(typeof values.sort === 'string' ? { sort: values.sort.split(',').map((field) => field.trim()).filter((field) => field !== '') } : {}),
      ...countOption(values.limit, 'limit'),
      ...countOption(values.offset, 'offset'),
    }, { stdout: process.stdout, stderr: process.stderr }),
  },
  xattr: {
    options: {},
    arguments: [2, 4],
    run: (client, { positionals }) => {
      const [action = '', key = '', ...names] = positionals;
      const arity: Readonly<Record<string, number>> = { list: 0, get: 1, set: 2 };
      if (arity[action] !== names.length) throw new UsageError(HELP.xattr);
      return xattr(client, action, key, names, out);
    },
  },
};

async function run(argv: readonly string[]): Promise<number> {
  const global = parseArgs({
    args: [...argv],
    options: {
      socket: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: false,
  });
  const [name] = global.positionals;
  if (global.values.version === true && name === undefined) {
    process.stdout.write(`asya-state ${VERSION}\n`);
    return EXIT.ok;
  }
  if (name === undefined || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined && global.values.help !== true ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS[name];
  const help = HELP[name];
  if (command === undefined || help === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
  const commandArgs = argv.slice(argv.indexOf(name) + 1);
  if (commandArgs.includes('--help') || commandArgs.includes('-h')) {
    process.stdout.write(`${help}\n`);
    return EXIT.ok;
  }
  const socketPath = resolve(stringOption(global.values.socket) ?? process.env.ASYA_STATE_SOCKET ?? process.env.CONNECTOR_SOCKET ?? 'run/state.sock');
  const timeoutText = stringOption(global.values.timeout);
  const timeoutMs = timeoutText === undefined ? 30_000 : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout must be a whole number of milliseconds, got ${JSON.stringify(timeoutText)}`);
  const parsed = parseCommand(command, commandArgs, help);
  const client = new StateClient({ socketPath, timeoutMs, writeMode: 'passthrough' });
  try {
    await command.run(client, parsed);
    return EXIT.ok;
  } finally {
    client.close();
  }
}

/** A command's own options and arguments (the global ones already read), or a usage error with its help. */
function parseCommand(command: Command, args: readonly string[], help: string): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: withoutGlobalOptions(args), options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${help}`);
  }
  const [min, max] = command.arguments;
  if (parsed.positionals.length < min || parsed.positionals.length > max) throw new UsageError(help);
  return parsed;
}

/** `--if-match GEN` as a generation (quotes, as an ETag carries them, allowed), or a usage error. */
function generationOption(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const generation = /^"?(\d{1,19})"?$/.exec(value.trim())?.[1];
  if (generation === undefined) throw new UsageError(`--if-match takes a generation (stat KEY shows it), got ${JSON.stringify(value)}`);
  return generation;
}

/** `args` without `--socket`/`--timeout` and their values, which may come after the command too. */
function withoutGlobalOptions(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      kept.push(...args.slice(i));
      break;
    }
    if (arg === '--socket' || arg === '--timeout') i++;
    else if (!arg.startsWith('--socket=') && !arg.startsWith('--timeout=')) kept.push(arg);
  }
  return kept;
}

function stringOption(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** `--filter '{...}'` as an object, or a usage error naming what is wrong. */
function jsonOption(value: unknown, flag: string): { filter?: Record<string, unknown> } {
  if (typeof value !== 'string') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new UsageError(`${flag} must be a JSON object, e.g. '{"name": "alice"}' (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`${flag} must be a JSON object, e.g. '{"name": "alice"}'`);
  return { filter: parsed as Record<string, unknown> };
}

/** `--limit N` / `--offset N` as a whole number, or a usage error. */
function countOption(value: unknown, name: 'limit' | 'offset'): { limit?: number } | { offset?: number } {
  if (typeof value !== 'string') return {};
  if (!/^\d{1,9}$/.test(value)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return { [name]: Number(value) };
}

function progressFlag(values: Record<string, unknown>): boolean | undefined {
  if (values['no-progress'] === true) return false;
  return values.progress === true ? true : undefined;
}

/** The reader of our stdout went away (`asya-state cat KEY | head`): stop quietly, as other tools do. */
function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

process.stdout.on('error', (error) => {
  if (!isBrokenPipe(error)) throw error;
  process.exit(EXIT.ok);
});

run(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
  if (isBrokenPipe(error)) {
    process.exitCode = EXIT.ok;
    return;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`asya-state: ${error.message}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  process.stderr.write(`asya-state: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = exitCodeOf(error);
});
