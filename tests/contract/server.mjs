// Starts a real `liverec serve` on 127.0.0.1, a free port and a fresh temporary data
// directory, for the Node tests (the contract test, the TypeScript client's smoke test).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

// Resolves to {url, stop()} once the server printed the address it listens on; rejects if the
// process exits first.
export function startServer(binary, extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "liverec-node-test-"));
  const child = spawn(
    binary,
    ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, ...extraArgs],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve({ url: match[1], dataDir, stop });
    });
    child.once("exit", (code) => {
      rmSync(dataDir, { recursive: true, force: true });
      reject(new Error(`liverec serve exited with ${code} before listening`));
    });
  });
}
