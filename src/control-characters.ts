/**
 * C0 and C1 control characters and DEL: invisible in logs and listings, and CR, LF and NUL
 * break HTTP headers and paths. Keys, the state prefix, list delimiters and the client's
 * paths all refuse them, with this one definition.
 */
// eslint-disable-next-line no-control-regex -- these control characters are what is refused
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** True when `text` holds a control character. */
export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}
