/// <reference types="vitest/config" />
import { resolve } from "node:path";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { dropEmbeddedFonts } from "./src/graphiql/dropEmbeddedFonts";

const backend = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  css: { postcss: { plugins: [dropEmbeddedFonts] } },
  build: {
    outDir: resolve(import.meta.dirname, "../src/loyalty/web/console_dist"),
    emptyOutDir: true,
    // The server's CSP allows scripts from 'self' only: no inline polyfill.
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, "index.html"),
        graphiql: resolve(import.meta.dirname, "graphiql.html"),
      },
    },
  },
  server: {
    proxy: {
      "/graphql": backend,
      "/auth": backend,
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
  },
});
