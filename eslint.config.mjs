// ESLint for the console and replay scripts (src/kayou_dispatch/web/static/*.js); .ci/run
// installs eslint from the npm registry and runs it. Plain browser scripts, no bundler.
import js from "@eslint/js";

const browser = {
  window: "readonly",
  document: "readonly",
  Node: "readonly",
  performance: "readonly",
  location: "readonly",
  fetch: "readonly",
  WebSocket: "readonly",
  URL: "readonly",
  URLSearchParams: "readonly",
  setTimeout: "readonly",
  clearTimeout: "readonly",
  setInterval: "readonly",
  clearInterval: "readonly",
  requestAnimationFrame: "readonly",
  atob: "readonly",
  console: "readonly",
  KayouMap: "readonly",
};

export default [
  js.configs.recommended,
  {
    files: ["src/kayou_dispatch/web/static/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: browser },
    rules: {
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": ["error", { args: "after-used" }],
    },
  },
];
