// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const noShell = {
  selector: "Property[key.name='shell'][value.value=true]",
  message: 'No shell: argv arrays only (S15).',
};
const effectModules = ['node:fs', 'node:fs/promises', 'node:child_process', 'execa', 'fs', 'child_process'];
/** the network and what the agent's own process sees: agent/host/net.ts and this-process.ts own these */
const networkModules = [
  'node:https',
  'node:http',
  'node:http2',
  'node:tls',
  'node:dns',
  'node:dns/promises',
  'node:dgram',
  'node:os',
  'undici',
  'https',
  'http',
  'http2',
  'tls',
  'dns',
  'dns/promises',
  'dgram',
  'os',
];
/** node:net's address helpers are pure; its sockets and servers are not */
const pureNetNames = ['isIP', 'isIPv4', 'isIPv6', 'BlockList', 'SocketAddress'];
const hostLayerOnly = 'Only agent/host/ touches the network, the OS and the environment (Net, thisProcess).';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**', 'packaging/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', noShell],
    },
  },
  {
    // every side effect of the agent goes through agent/host/ (Host, Net, thisProcess); only types may be imported
    files: ['agent/**/*.ts'],
    ignores: ['agent/host/**', 'agent/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...effectModules.map((name) => ({
              name,
              message: 'Only agent/host/ touches fs and processes.',
            })),
            ...networkModules.map((name) => ({ name, message: hostLayerOnly, allowTypeImports: true })),
            ...['node:net', 'net'].map((name) => ({
              name,
              allowImportNames: pureNetNames,
              message: hostLayerOnly,
              allowTypeImports: true,
            })),
            { name: 'node:process', importNames: ['env', 'default'], message: hostLayerOnly },
            { name: 'process', importNames: ['env', 'default'], message: hostLayerOnly },
          ],
          patterns: [{ group: ['**/controller/**'], message: 'agent/ never imports controller/.' }],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: hostLayerOnly },
        { object: 'globalThis', property: 'fetch', message: hostLayerOnly },
      ],
      'no-restricted-syntax': [
        'error',
        noShell,
        // a dynamic import() would slip past no-restricted-imports: only our own modules by a
        // relative literal path (lazy loading, issue 13 part 7), and those obey these rules themselves
        {
          selector: "ImportExpression:not([source.type='Literal'][source.value=/^\\.\\.?\\//])",
          message: hostLayerOnly,
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'fetch', message: hostLayerOnly },
        { name: 'WebSocket', message: 'The agent channel uses ws (agent/connection.ts).' },
      ],
    },
  },
  {
    files: ['agent/**/*.test.ts', 'agent/host/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/controller/**'], message: 'agent/ never imports controller/.' }] },
      ],
    },
  },
  {
    files: ['controller/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/agent/**'], message: 'controller/ never imports agent/.' },
            {
              group: ['**/lab/**'],
              message: 'controller/ never imports lab/ (a development tool, not shipped).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['lab/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/agent/**', '**/controller/**'], message: 'lab/ imports only proto/ of ours.' },
          ],
        },
      ],
    },
  },
  {
    files: ['proto/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/agent/**', '**/controller/**'], message: 'proto/ imports nothing of ours.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['scripts/**/*.mjs'], languageOptions: { globals: { console: 'readonly', process: 'readonly' } } },
  prettier,
);
