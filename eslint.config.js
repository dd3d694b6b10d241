// ESLint for the TypeScript sources, tests and benchmarks: the typescript-eslint recommended rules, no formatting rules.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'charts/', 'test/fakes/.ca/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // Recorded AdmissionReviews and rendered manifests are read as loose JSON in tests.
      '@typescript-eslint/no-explicit-any': 'off',
      // A late-bound variable read by closures made before it is assigned (the logger) cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
