import { defineConfig } from "vite";

// `npm run dev` serves the app on :5173 and forwards API calls to the service on :8000 (`make run`).
export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false, // no public source maps (the sources are in the repository)
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router marks its modules "use client" (for React Server Components); meaningless in an SPA bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: { "/api": "http://localhost:8000", "/sandbox": "http://localhost:8000" },
  },
});
