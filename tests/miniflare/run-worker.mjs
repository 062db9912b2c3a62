// Runs a Worker module in miniflare (workerd, Cloudflare's runtime) and checks how it answers:
// `node run-worker.mjs <module.js>`. Requests the Worker forwards to the origin go to a stub
// origin (miniflare's `outboundService`), so no network is needed. Prints one JSON line with the
// answers and exits non-zero when the module does not load or does not answer.
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node run-worker.mjs <module.js>");
  process.exit(2);
}
const mf = new Miniflare({
  // The module by content under a plain name: workerd refuses paths that leave its directory.
  modules: [{ type: "ESModule", path: "worker.js", contents: readFileSync(file, "utf8") }],
  compatibilityDate: "2024-09-01",
  outboundService: (request) =>
    new Response(`origin saw ${new URL(request.url).pathname}`, { status: 200, headers: { "x-origin": "stub" } }),
});
try {
  const answers = {};
  for (const path of ["/healthz", "/assets/app.js"]) {
    const res = await mf.dispatchFetch(`https://static.example.com${path}`);
    answers[path] = { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
  }
  console.log(JSON.stringify(answers));
} finally {
  await mf.dispose();
}
