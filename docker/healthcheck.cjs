/* global process, fetch, AbortSignal, console */
'use strict';
// Container healthcheck (Dockerfile HEALTHCHECK, compose healthchecks).
//
//   node /app/docker/healthcheck.cjs            liveness of this container's APP_ROLE
//   node /app/docker/healthcheck.cjs <url>      liveness of an explicit URL (simulator)
//
// api and all serve GET /health on PORT (4080); the worker serves only
// /metrics, /health and /ready on METRICS_PORT (9464). /health is liveness
// only (no PostgreSQL/Redis), so a database outage does not get containers
// killed; readiness (/ready) is for load balancers and Kubernetes.
const role = (process.env.APP_ROLE || 'all').trim().toLowerCase();
const port =
  role === 'worker' ? process.env.METRICS_PORT || '9464' : process.env.PORT || '4080';
const url = process.argv[2] || `http://127.0.0.1:${port}/health`;

fetch(url, { signal: AbortSignal.timeout(4000) })
  .then((res) => {
    if (!res.ok) console.error(`healthcheck: ${url} answered ${res.status}`);
    process.exit(res.ok ? 0 : 1);
  })
  .catch((err) => {
    console.error(`healthcheck: ${url} failed: ${err && err.message}`);
    process.exit(1);
  });
