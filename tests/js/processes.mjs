// What the Node test suites (tests/browser, tests/clients) share about the processes they
// start: every child is killed when the test process ends, however it ends, and a free
// loopback port for each. No dependencies, so each suite imports it by path.

import net from "node:net";

/// The children still running; a suite adds each one it spawns and deletes it on exit.
export const live = new Set();

const killAll = () => {
  for (const child of live) child.kill("SIGKILL");
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/// Stops an http.Server and resolves when it has closed. close() alone waits for every
/// open connection, and Node 18 leaves a browser's idle keep-alive (or preconnected,
/// never used) sockets open indefinitely, so they are closed here too.
export function stopHttpServer(server) {
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  return closed;
}
