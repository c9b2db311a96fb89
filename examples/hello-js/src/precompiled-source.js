// The smallest Spin HTTP app in JavaScript: the `fetch` event of the Service Worker
// API, as `@spinframework/build-tools` compiles it (StarlingMonkey).
addEventListener('fetch', (event) => {
  event.respondWith(
    new Response('Hello from JavaScript on Spin\n', {
      status: 200,
      headers: { 'content-type': 'text/plain' },
    }),
  );
});
