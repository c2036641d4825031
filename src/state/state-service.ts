/**
 * The protocol's operations on keys, free of HTTP: maps keys into the prefix, applies
 * the variant's write policy, simulates directories over prefixes, and names attributes.
 * The server parses requests into calls here and answers with what comes back.
 */
import {
  ConflictError,
  KeyNotFoundError,
  PermissionDeniedError,
  UnsupportedAttributeError,
} from '../errors.ts';
import { isStoreError } from '../store/store-error.ts';
import type { KeySpace, KeyTarget } from '../keys.ts';
import { checkContentType } from './content-type.ts';
import type { ListedObject, ObjectAttributes, ObjectDownload, ObjectStore, UploadBody } from '../store/object-store.ts';

/** What a write stores, as the server hands it over (defined with the store it is for). */
export type { BodyChunk, UploadBody } from '../store/object-store.ts';
import type { WritePolicy } from '../variants/write-policy.ts';

/** A write's own precondition, from its request headers. */
export type Precondition =
  | { readonly kind: 'none' }
  /** `If-None-Match: *`: only if no object exists. */
  | { readonly kind: 'absent' }
  /** `If-Match: "<generation>"`: only if the object is at that generation. */
  | { readonly kind: 'generation'; readonly generation: string };

export type HeadResult =
  | { readonly kind: 'file'; readonly attributes: ObjectAttributes }
  | { readonly kind: 'directory' };

export interface ListRequest {
  /** Mount-relative key prefix (checked). */
  readonly prefix: string;
  /** Undefined lists recursively. */
  readonly delimiter: string | undefined;
  /** One page of at most this many entries. */
  readonly limit: number;
  readonly pageToken: string | undefined;
}

export interface ListResult {
  readonly keys: string[];
  readonly prefixes: string[];
  readonly nextPageToken: string | undefined;
}

/** A file a recursive listing found: its mount-relative key and size in bytes. */
export interface ListedFile {
  readonly key: string;
  readonly size: number;
}

/** A part of a whole listing: keys, or (after every key) prefixes. */
export type ListBatch = { readonly keys: readonly string[]; readonly prefixes?: undefined } | { readonly prefixes: readonly string[]; readonly keys?: undefined };

/** Extended attributes served under `/meta` (without the runtime's `user.asya.` prefix). */
const ATTRIBUTE_NAMES = ['url', 'signed_url', 'generation', 'metageneration', 'content_type', 'storage_class'] as const;
export type AttributeName = (typeof ATTRIBUTE_NAMES)[number];

const WRITABLE_ATTRIBUTE: AttributeName = 'content_type';
const GCS_MAX_PAGE = 1000;
/** Characters of prefixes a whole listing holds while its keys stream; past this, prefixes get a second pass. */
const HELD_PREFIX_CHARS = 64 * 1024;

export interface StateServiceOptions {
  readonly store: ObjectStore;
  readonly keys: KeySpace;
  readonly policy: WritePolicy;
  readonly presignTtlSeconds: number;
  /** Told of each object name a listing left out because it is not a valid key. */
  readonly onInvalidName?: (objectName: string) => void;
}

export class StateService {
  readonly #store: ObjectStore;
  readonly #keys: KeySpace;
  readonly #policy: WritePolicy;
  readonly #presignTtlSeconds: number;
  readonly #onInvalidName: (objectName: string) => void;

  constructor(options: StateServiceOptions) {
    this.#store = options.store;
    this.#keys = options.keys;
    this.#policy = options.policy;
    this.#presignTtlSeconds = options.presignTtlSeconds;
    this.#onInvalidName = options.onInvalidName ?? (() => {});
  }

  async read(key: string): Promise<ObjectDownload> {
    const name = this.#keys.objectName(key);
    try {
      const download = await this.#store.read(name);
      this.#policy.observed(name, download.generation);
      return download;
    } catch (error) {
      if (isStoreError(error, 'not_found')) this.#policy.observed(name, '0');
      throw error;
    }
  }

  async write(key: string, body: UploadBody, precondition: Precondition, contentType: string): Promise<ObjectAttributes> {
    const name = this.#keys.objectName(key);
    const ifGenerationMatch = precondition.kind === 'absent'
      ? '0'
      : precondition.kind === 'generation' ? precondition.generation : this.#policy.implicitCondition(name);
    try {
      const attributes = await this.#store.write(name, body, { ifGenerationMatch, contentType });
      this.#policy.observed(name, attributes.generation);
      return attributes;
    } catch (error) {
      if (!isStoreError(error, 'exists', 'changed')) throw error;
      this.#policy.conflicted(name);
      if (precondition.kind !== 'absent' && error.kind === 'exists') {
        throw new ConflictError('generation_mismatch', `"${key}" was created by another writer after it was read as absent; read it again and retry`);
      }
      throw error;
    }
  }

  async head(target: KeyTarget): Promise<HeadResult> {
    if (target.kind === 'directory') {
      if (target.key === '' || await this.#hasEntriesUnder(target.key)) return { kind: 'directory' };
      throw new KeyNotFoundError(`no directory "${target.key}"`);
    }
    try {
      return { kind: 'file', attributes: await this.#store.stat(this.#keys.objectName(target.key)) };
    } catch (error) {
      if (isStoreError(error, 'not_found') && await this.#hasEntriesUnder(`${target.key}/`)) return { kind: 'directory' };
      throw error;
    }
  }

  async remove(key: string, ifGeneration: string | undefined): Promise<void> {
    const name = this.#keys.objectName(key);
    try {
      await this.#store.remove(name, ifGeneration);
      this.#policy.deleted(name);
    } catch (error) {
      if (isStoreError(error, 'exists', 'changed')) this.#policy.conflicted(name);
      throw error;
    }
  }

  /** One page of a listing: at most `request.limit` entries, and the token of the next. */
  async list(request: ListRequest): Promise<ListResult> {
    return this.#page(request.prefix, request.delimiter, request.limit, request.pageToken);
  }

  /**
   * A whole listing, one GCS page at a time so that only a page is ever held: every key
   * first, then every prefix. Prefixes met on the way are held up to a bound; past it
   * they are listed again in a second pass instead of held.
   */
  async *listAll(prefix: string, delimiter: string | undefined): AsyncGenerator<ListBatch> {
    const held: string[] = [];
    let heldChars = 0;
    let overflowed = false;
    let pageToken: string | undefined;
    do {
      const page = await this.#page(prefix, delimiter, GCS_MAX_PAGE, pageToken);
      if (page.keys.length > 0) yield { keys: page.keys };
      if (!overflowed) {
        for (const found of page.prefixes) heldChars += found.length;
        held.push(...page.prefixes);
        if (heldChars > HELD_PREFIX_CHARS) {
          overflowed = true;
          held.length = 0;
        }
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    if (!overflowed) {
      if (held.length > 0) yield { prefixes: held };
      return;
    }
    do {
      const page = await this.#page(prefix, delimiter, GCS_MAX_PAGE, pageToken);
      if (page.prefixes.length > 0) yield { prefixes: page.prefixes };
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }

  /**
   * Every file under `prefix`, recursively, with its size, one GCS page at a time (a batch
   * per page), in key order.
   */
  async *listFiles(prefix: string): AsyncGenerator<readonly ListedFile[]> {
    let pageToken: string | undefined;
    do {
      const page = await this.#store.list({ prefix: this.#keys.objectName(prefix), delimiter: undefined, pageSize: GCS_MAX_PAGE, pageToken });
      const files = this.#files(page.objects);
      if (files.length > 0) yield files;
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }

  async #page(prefix: string, delimiter: string | undefined, pageSize: number, pageToken: string | undefined): Promise<ListResult> {
    const page = await this.#store.list({ prefix: this.#keys.objectName(prefix), delimiter, pageSize, pageToken });
    const keys = this.#files(page.objects).map((file) => file.key);
    const prefixes: string[] = [];
    for (const name of page.prefixes) {
      const key = this.#keys.listedKey(name, true);
      if (key === undefined) this.#onInvalidName(name);
      else prefixes.push(key);
    }
    return { keys, prefixes, nextPageToken: page.nextPageToken };
  }

  /** The listed objects that are files with valid keys. */
  #files(objects: readonly ListedObject[]): ListedFile[] {
    const files: ListedFile[] = [];
    for (const object of objects) {
      // A name ending in "/" is a folder placeholder some tools create, not a file.
      if (object.name.endsWith('/')) continue;
      const key = this.#keys.listedKey(object.name, false);
      if (key === undefined) this.#onInvalidName(object.name);
      else files.push({ key, size: object.size });
    }
    return files;
  }

  /** The attribute names an existing key has (all of them, for GCS). */
  async attributeNames(key: string): Promise<readonly AttributeName[]> {
    await this.#store.stat(this.#keys.objectName(key));
    return ATTRIBUTE_NAMES;
  }

  async attribute(key: string, attribute: string): Promise<string> {
    const known = knownAttribute(attribute);
    const name = this.#keys.objectName(key);
    if (known === 'generation') {
      const remembered = this.#policy.remembered(name);
      if (remembered === '0') throw new KeyNotFoundError(`no object ${this.#store.objectUrl(name)}`);
      if (remembered !== undefined) return remembered;
    }
    const attributes = await this.#store.stat(name);
    switch (known) {
      case 'url': return this.#store.objectUrl(name);
      case 'signed_url': return this.#store.signedReadUrl(name, this.#presignTtlSeconds);
      case 'generation': return attributes.generation;
      case 'metageneration': return attributes.metageneration;
      case 'content_type': return attributes.contentType;
      case 'storage_class': return attributes.storageClass ?? '';
    }
  }

  async setAttribute(key: string, attribute: string, value: string): Promise<void> {
    checkWritableAttribute(attribute);
    checkContentType(value, 'content_type');
    await this.#store.setContentType(this.#keys.objectName(key), value);
  }

  async #hasEntriesUnder(directoryKey: string): Promise<boolean> {
    const page = await this.#store.list({
      prefix: this.#keys.objectName(directoryKey),
      delimiter: '/',
      pageSize: 1,
      pageToken: undefined,
    });
    return page.objects.length > 0 || page.prefixes.length > 0;
  }
}

function knownAttribute(attribute: string): AttributeName {
  const known = ATTRIBUTE_NAMES.find((name) => name === attribute);
  if (known === undefined) {
    throw new UnsupportedAttributeError(`unknown attribute ${JSON.stringify(attribute)}; known: ${ATTRIBUTE_NAMES.join(', ')}`);
  }
  return known;
}

/** Throws unless `attribute` may be written: unknown → 400, read-only → 403. */
export function checkWritableAttribute(attribute: string): void {
  if (knownAttribute(attribute) !== WRITABLE_ATTRIBUTE) {
    throw new PermissionDeniedError(`attribute ${JSON.stringify(attribute)} is read-only; only ${WRITABLE_ATTRIBUTE} can be set`);
  }
}
