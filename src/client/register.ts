/**
 * `node --import asya-state-proxy-gcs/client/register handler.js`: installs the fs hooks
 * for the mounts in `ASYA_STATE_PROXY_MOUNTS` before the handler's code runs.
 */
import { installStateHooks } from './fs-hooks.ts';

installStateHooks();
