import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// The console is served by certfleet itself from the embedded dist/, with no
// outside request: no CDN, no web font.
export default defineConfig({
  plugins: [preact()],
  // dist/app, not dist: dist/.gitkeep stays, so a clone without a build compiles.
  build: { outDir: "dist/app", emptyOutDir: true, assetsInlineLimit: 0 },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});
