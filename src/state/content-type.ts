/**
 * The media types the connector stores: `type/subtype` with optional parameters, in
 * visible ASCII (tab and space allowed inside quoted values). Anything else would be
 * stored, then break every later read of the object (GCS echoes the type as a header),
 * so it is refused up front with 400.
 */
import { BadRequestError } from '../errors.ts';

const TOKEN = "[\\w!#$&^.+'*`|~-]+";
const QUOTED = '"[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"';
const CONTENT_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*$`);
const MAX_LENGTH = 256;

/** Answers `value` when it is a media type GCS can store and serve back; throws BadRequestError naming `what` otherwise. */
export function checkContentType(value: string, what: string): string {
  if (value.length > MAX_LENGTH || !CONTENT_TYPE.test(value)) {
    throw new BadRequestError(
      `${what} must be a media type such as "application/json" or "text/plain; charset=utf-8" (visible ASCII, at most ${MAX_LENGTH} characters), ` +
        `got ${JSON.stringify(value.slice(0, 100))}`,
    );
  }
  return value;
}

/**
 * A stored content type as it may go out in a header: the type itself when it is one the
 * connector would store, else `application/octet-stream`. Another writer (gsutil, a
 * console upload) can set any text, and a header with characters outside visible ASCII
 * would fail the whole answer; the stored value stays readable as the `content_type`
 * attribute.
 */
export function servableContentType(stored: string): string {
  return stored.length <= MAX_LENGTH && CONTENT_TYPE.test(stored) ? stored : 'application/octet-stream';
}
