// Starts the real Python server and the real gateway for the tests, on free loopback ports.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

// This file runs as clients/ts/dist/test/support.js.
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

export interface Running {
  address: string; // host:port
  stop(): Promise<void>;
}

async function waitFor<T>(what: string, child: ChildProcess, log: () => string, probe: () => T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    const value = probe();
    if (value !== undefined) {
      return value;
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`${what} was not ready within ${ms} ms:\n${log()}`);
}

function stopper(child: ChildProcess, cleanup: () => void): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };
}

/** The one API key the test servers accept (admin scope). */
export const TEST_API_KEY = "ts-client-test-key";

/** `aitext serve --port 0` from the repo's venv; fails loudly when it cannot start. */
export async function startServer(env: Record<string, string> = {}): Promise<Running> {
  const exe = join(repoRoot, ".venv", "bin", "aitext");
  if (!existsSync(exe)) {
    throw new Error(`${exe} not found: run 'make install' at the repo root first`);
  }
  const dir = mkdtempSync(join(tmpdir(), "aitext-ts-"));
  const readyFile = join(dir, "port");
  let log = "";
  const child = spawn(exe, ["serve", "--host", "127.0.0.1", "--port", "0", "--ready-file", readyFile], {
    cwd: repoRoot,
    env: {
      ...process.env,
      AITEXT_METRICS_PORT: "0",
      AITEXT_MODEL: "local",
      AITEXT_REDIS_URL: "",
      AITEXT_API_KEYS: `${TEST_API_KEY}:process+admin`,
      AITEXT_ALLOW_UNAUTHENTICATED: "false",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const port = await waitFor("aitext serve", child, () => log, () => {
    const text = existsSync(readyFile) ? readFileSync(readyFile, "utf8").trim() : "";
    return /^\d+$/.test(text) ? text : undefined;
  });
  return { address: `127.0.0.1:${port}`, stop: stopper(child, () => rmSync(dir, { recursive: true, force: true })) };
}

/** The gateway binary: $AITEXT_GATEWAY_BIN, or built from gateway/ with `go build`. */
function gatewayBinary(dir: string): string {
  const given = process.env.AITEXT_GATEWAY_BIN;
  if (given) {
    return given;
  }
  const out = join(dir, "gateway");
  execFileSync("go", ["build", "-o", out, "."], { cwd: join(repoRoot, "gateway"), stdio: "inherit" });
  return out;
}

/** The real gateway in front of `backends`; resolves once it prints its address. */
export async function startGateway(backends: string[]): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "aitext-gw-"));
  const bin = gatewayBinary(dir);
  let log = "";
  const child = spawn(bin, ["--listen", "127.0.0.1:0", "--backends", backends.join(","), "--health-interval", "200ms"], {
    env: { ...process.env, AITEXT_GATEWAY_ALLOWED_ORIGINS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const address = await waitFor("gateway", child, () => log, () => /listening on (\S+?),/.exec(log)?.[1]);
  return { address, stop: stopper(child, () => rmSync(dir, { recursive: true, force: true })) };
}

/** Retries `call` until it succeeds (the gateway admits a backend after its first health check). */
export async function eventually<T>(call: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (Date.now() > deadline) {
        throw err;
      }
      await sleep(200);
    }
  }
}
