// Loaded with --import into a connector under test: reports on stderr every time
// google-auth-library is resolved, so a test can tell whether the process loaded it.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'google-auth-library' || specifier.startsWith('google-auth-library/')) process.stderr.write(`module-load: ${specifier}\n`);
    return nextResolve(specifier, context);
  },
});
