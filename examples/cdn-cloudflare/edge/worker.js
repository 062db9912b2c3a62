// The Worker in front of static.example.com: adds security headers to every response and
// answers /healthz at the edge. An ES module exporting `fetch`, as Workers modules do.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") {
      return new Response("ok", { status: 200, headers: { "content-type": "text/plain" } });
    }
    const response = await fetch(request);
    const headers = new Headers(response.headers);
    headers.set("x-content-type-options", "nosniff");
    headers.set("strict-transport-security", "max-age=31536000");
    return new Response(response.body, { status: response.status, headers });
  },
};
