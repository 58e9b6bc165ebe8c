// Builds the browser bundles into frontend/dist (git-ignored). Django serves them as static files
// under /static/dist/ (STATICFILES_DIRS); entry names are stable so templates can name them.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("./src"),
  base: "/static/dist/",
  build: {
    outDir: here("./dist"),
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      input: { app: here("./src/app.js") },
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "chunks/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
});
