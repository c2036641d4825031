// Lint rules: the recommended sets plus the type-aware checks that catch the bugs a
// proxy cannot afford (a promise nobody awaits, a misused async callback).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', 'run/**', 'dist/**', 'packages/*/dist/**', 'bench/node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      // fs-shaped signatures keep parameters they accept and ignore (mode, options).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
    },
  },
  {
    files: ['scripts/**', 'test/**', 'bench/**', 'examples/**'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/require-await': 'off',
      // Test helpers use a type parameter as a checked cast of parsed JSON.
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
    },
  },
  {
    files: ['eslint.config.js', 'bench/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
