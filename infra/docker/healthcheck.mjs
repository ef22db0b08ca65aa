// The image's HEALTHCHECK, for every role: GET $HEALTHCHECK_URL and exit 0 on a 2xx answer.
// Node rather than curl because node:24-slim has no curl, and adding it for a probe would grow
// the attack surface of every container.
// Read at run time only, never by a build or test task: nothing for Turborepo to track.
const { HEALTHCHECK_URL: url } = process.env;
if (!url) {
  console.error('HEALTHCHECK_URL is not set');
  process.exit(1);
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4_000) });
  if (!res.ok) console.error(`${url} answered ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`${url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`);
  process.exit(1);
}
