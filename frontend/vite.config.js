// Builds the browser bundles into frontend/dist (git-ignored). Django serves them as static files
// under /static/dist/ (STATICFILES_DIRS); entry names are stable so templates can name them.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
// "events/" (trailing slash) resolves the npm package, never Node's built-in module.
const eventsPackage = createRequire(import.meta.url).resolve("events/");

export default defineConfig({
  root: here("./src"),
  base: "/static/dist/",
  resolve: {
    // Cornerstone imports Node's `events`; without the browser package the bundle dies at load
    // time with "Class extends value undefined".
    alias: { events: eventsPackage },
  },
  // The DICOM loader starts its decode worker as an ES module and the worker imports the WASM
  // codecs; both must be emitted as module chunks for Vite to follow them.
  worker: { format: "es" },
  build: {
    outDir: here("./dist"),
    emptyOutDir: true,
    // Source maps of the 5 MB viewer bundle (mostly Cornerstone) double the build time on two
    // cores; SOURCEMAP=1 npm run build writes them when debugging.
    sourcemap: process.env.SOURCEMAP === "1",
    target: "es2022",
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      input: {
        app: here("./src/app.js"),
        viewer: here("./src/viewer.js"),
        charts: here("./src/charts.js"),
      },
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "chunks/[name]-[hash].js",
        // An entry's CSS keeps its entry's name (dist/viewer.css) so templates can link it.
        assetFileNames: ({ names }) =>
          names?.[0]?.endsWith(".css") ? "[name][extname]" : "assets/[name]-[hash][extname]",
      },
    },
  },
});
