// ESLint: TypeScript rules plus the ring rules of ARCHITECTURE.md as import restrictions, so a wrong import
// fails `npm run lint` (and the lint test).
import tseslint from 'typescript-eslint';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ioMessage = 'Node built-ins do I/O: that belongs in main/adapters.';
const nodeBuiltins = { group: ['node:*'], message: ioMessage };
const bareBuiltins = builtinModules.map((name) => ({ name, message: ioMessage }));
const electron = { name: 'electron', message: 'Only main/app, main/ipc and preload may use Electron.' };
const dbus = { name: 'dbus-next', message: 'Only main/adapters/udisks talks D-Bus.' };
const restrict = (paths, patterns) => ['error', { paths, patterns }];

export default tseslint.config(
  { basePath: root, ignores: ['dist/**', 'node_modules/**', 'release/**', 'test-artifacts/**'] },
  {
    basePath: root,
    files: ['**/*.ts', '**/*.tsx', '**/*.mjs'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    basePath: root,
    files: ['main/core/**'],
    rules: {
      'no-restricted-imports': restrict([electron, dbus, ...bareBuiltins], [
        nodeBuiltins,
        { group: ['**/adapters/**', '**/services/**', '**/app/**', '**/ipc/**', '**/cli/**', '**/web/**'],
          message: 'core depends on nothing but core and ports.' },
      ]),
      'no-restricted-globals': ['error', 'Buffer', 'process', 'require', '__dirname', 'setTimeout'],
    },
  },
  {
    basePath: root,
    files: ['main/ports/**'],
    rules: { 'no-restricted-imports': restrict([electron, dbus, ...bareBuiltins], [nodeBuiltins]) },
  },
  {
    basePath: root,
    files: ['main/services/**'],
    rules: {
      'no-restricted-imports': restrict([electron, dbus, ...bareBuiltins], [
        nodeBuiltins,
        { group: ['**/adapters/**', '**/app/**', '**/ipc/**', '**/cli/**', '**/web/**'],
          message: 'services reach I/O only through ports.' },
      ]),
    },
  },
  {
    basePath: root,
    files: ['main/adapters/**'],
    rules: {
      'no-restricted-imports': restrict([electron], [
        { group: ['**/services/**', '**/app/**', '**/ipc/**', '**/cli/**', '**/web/**'],
          message: 'adapters implement ports; they do not call front ends or services.' },
      ]),
    },
  },
  {
    basePath: root,
    files: ['main/cli/**', 'main/web/**'],
    rules: { 'no-restricted-imports': restrict([electron, dbus], []) },
  },
  {
    basePath: root,
    files: ['main/app/**', 'main/ipc/**'],
    rules: { 'no-restricted-imports': restrict([dbus], []) },
  },
  {
    basePath: root,
    files: ['renderer/**'],
    rules: {
      'no-restricted-imports': restrict([electron, dbus, ...bareBuiltins], [
        nodeBuiltins,
        { group: ['**/main/**'], message: 'the renderer speaks only the contract (preload/contract).' },
      ]),
    },
  },
  {
    basePath: root,
    files: ['preload/**'],
    rules: {
      'no-restricted-imports': restrict([dbus, ...bareBuiltins], [
        nodeBuiltins,
        { group: ['**/main/**', '**/renderer/**'], message: 'preload exposes the contract and nothing more.' },
      ]),
    },
  },
);
