#!/usr/bin/env node
/*
 * node_hello.js - the hello server on Node's own `cluster` module: the peer
 * that run-policies compares cluster-run's policies with.
 *
 *   NODE_CLUSTER_SCHED_POLICY=rr|none node node_hello.js \
 *       [--addr A] [--port P] [--workers N] [--work-us N]
 *       [--slow-worker ID --slow-factor F] [--single]
 *
 * Same responses as hello_server.c (200, "Hello, world!\n", X-Worker), same
 * readiness line per worker (`port=P worker=ID pid=PID` on stdout).  The
 * scheduling policy is Node's: "rr" makes the primary accept and hand
 * connections round-robin to workers, "none" lets the workers accept on the
 * shared socket.  Worker ids are 0..N-1 (cluster.worker.id - 1).
 *
 * It is not a supervisor: a worker that dies is not replaced, the primary
 * then stops everything (a baseline with a missing worker is meaningless).
 * SIGTERM/SIGINT on the primary stops the workers and exits 0.
 *
 * The lifecycle scenario's peer: SIGHUP is a rolling restart done the way
 * Node's documentation suggests, one worker at a time: fork the
 * replacement, wait until it listens, `disconnect()` the old one (its
 * server stops accepting and the worker exits once its connections are
 * done), wait for that exit, go on; then "node_hello: reload complete" on
 * stderr.  SIGTTOU disconnects the last worker the same way (scale-down).
 * A replacement keeps its slot's id (NODE_HELLO_SLOT).
 *
 * --single: no cluster module, one plain server process whose id is
 * CLUSTER_WORKER_ID: the Node worker that the lifecycle scenario runs
 * under cluster-run.
 */
'use strict';

const cluster = require('node:cluster');
const http = require('node:http');

function parseArgs(argv) {
  const opts = { addr: '127.0.0.1', port: 0, workers: 2, workUs: 0,
                 slowWorker: null, slowFactor: 10, single: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--addr': opts.addr = v; i++; break;
      case '--port': opts.port = Number(v); i++; break;
      case '--workers': opts.workers = Number(v); i++; break;
      case '--work-us': opts.workUs = Number(v); i++; break;
      case '--slow-worker': opts.slowWorker = String(v); i++; break;
      case '--slow-factor': opts.slowFactor = Number(v); i++; break;
      case '--single': opts.single = true; break;
      default:
        process.stderr.write(`node_hello: unknown argument ${a}\n`);
        process.exit(2);
    }
  }
  return opts;
}

/* Spins the CPU for `us` microseconds of process CPU time. */
function burnCpu(us) {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) | 0;
    const d = process.cpuUsage(start);
    if (d.user + d.system >= us) return x;
  }
}

function runPrimary(opts) {
  let stopping = false;
  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    const done = () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(code);
    };
    cluster.on('exit', done);
    done();
  };
  const retiring = new Set();      // worker ids disconnected on purpose
  let changing = false;             // a reload or scale-down in progress
  const forkSlot = (slot) => {
    const w = cluster.fork({ NODE_HELLO_SLOT: String(slot) });
    w.slot = slot;
    return w;
  };
  const retire = (w) => {
    const gone = new Promise((resolve) => w.once('exit', resolve));
    retiring.add(w.id);
    w.disconnect();
    return gone;
  };
  const reload = async () => {
    for (const old of Object.values(cluster.workers)) {
      if (stopping) return;
      const fresh = forkSlot(old.slot);
      await new Promise((resolve) => fresh.once('listening', resolve));
      await retire(old);
    }
    process.stderr.write('node_hello: reload complete\n');
  };
  const scaleDown = async () => {
    const live = Object.values(cluster.workers);
    if (live.length > 1) await retire(live[live.length - 1]);
    process.stderr.write('node_hello: scaled down\n');
  };
  const change = (what) => {
    if (changing || stopping) {
      process.stderr.write('node_hello: busy, signal ignored\n');
      return;
    }
    changing = true;
    what().finally(() => { changing = false; });
  };
  for (let i = 0; i < opts.workers; i++) forkSlot(i);
  process.on('SIGHUP', () => change(reload));
  process.on('SIGTTOU', () => change(scaleDown));
  cluster.on('exit', (worker, codeOrNull, signal) => {
    if (!stopping && !retiring.has(worker.id)) {
      process.stderr.write(`node_hello: worker ${worker.id - 1} exited ` +
                           `(${signal || codeOrNull}); stopping\n`);
      stop(1);
    }
  });
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
}

function runWorker(opts) {
  const id = opts.single ? (process.env.CLUSTER_WORKER_ID || '0')
    : process.env.NODE_HELLO_SLOT || String(cluster.worker.id - 1);
  let work = opts.workUs;
  if (opts.slowWorker !== null && opts.slowWorker === id) work *= opts.slowFactor;
  const body = 'Hello, world!\n';
  const server = http.createServer((req, res) => {
    if (work > 0) burnCpu(work);
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      'X-Worker': id,
    });
    res.end(body);
  });
  server.keepAliveTimeout = 60000;
  server.listen(opts.port, opts.addr, () => {
    process.stdout.write(`port=${server.address().port} worker=${id} pid=${process.pid}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

const opts = parseArgs(process.argv.slice(2));
if (opts.single || !cluster.isPrimary) runWorker(opts);
else runPrimary(opts);
