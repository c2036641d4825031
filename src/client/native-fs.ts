/**
 * The original `node:fs/promises` functions the client itself needs, taken when this
 * module loads: once fs hooks are installed, the client's own temporary files must not
 * go through them.
 */
import * as fsPromises from 'node:fs/promises';

export const nativeOpen = fsPromises.open;
export const nativeUnlink = fsPromises.unlink;
