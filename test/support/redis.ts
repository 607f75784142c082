/**
 * Real redis-server processes for tests: the shared one started by globalSetup, and private ones
 * a test may stop and restart (Redis dying mid-run).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtemp, rm } from "node:fs/promises"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Kill the server at once (SIGKILL): clients see their connections drop. */
  readonly kill: () => Promise<void>
  /** Freeze the server (SIGSTOP): connections stay open and nothing answers. */
  readonly freeze: () => void
  /** Resume a frozen server (SIGCONT). */
  readonly thaw: () => void
}

const redisServerBinary = process.env["REDIS_SERVER"] ?? "redis-server"

/** A port nobody listens on right now, on the loopback interface. */
export const freePort = async (): Promise<number> => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  server.close()
  await once(server, "close")
  if (address === null || typeof address === "string") throw new Error("could not read a free port")
  return address.port
}

const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    let reply = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on("error", () => done(false))
    socket.on("connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8")
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"))
    })
  })

/**
 * The pause between readiness probes of a redis-server child process (PING, CLUSTER INFO).
 * Start-up infrastructure only, bounded by a 10 s deadline: no test asserts on time through
 * it (tests use TestClock, or counts against Redis server time).
 */
const delay = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const waitForPong = async (port: number, child: ChildProcess, output: () => string): Promise<void> => {
  const deadline = performance.now() + 10_000
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited at start-up (port ${port}):\n${output()}`)
    }
    if (await ping(port)) return
    await delay(20)
  }
  child.kill("SIGKILL")
  throw new Error(`redis-server did not answer PING on port ${port} within 10 s:\n${output()}`)
}

const spawnRedis = (port: number, extraArgs: ReadonlyArray<string>): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      redisServerBinary,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
        ...extraArgs
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    child.once("spawn", () => resolve(child))
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new Error(
            `redis-server was not found (looked for "${redisServerBinary}"). The Redis tests run a real ` +
              "redis-server: install it (Debian/Ubuntu: `apt-get install -y redis-server`, which `.ci/run` " +
              "does), or point REDIS_SERVER at the binary."
          )
          : error
      )
    )
  })

/**
 * Start a redis-server on `port` (a free one by default) and wait until it answers PING.
 * `extraArgs` are more `--option value` pairs for the server.
 */
export const startRedisServer = async (port?: number, extraArgs: ReadonlyArray<string> = []): Promise<RedisServer> => {
  const chosen = port ?? (await freePort())
  const child = await spawnRedis(chosen, extraArgs)
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  // A worker that exits without running its finalizers (a timed-out test) takes its servers with it.
  const killOnExit = () => void child.kill("SIGKILL")
  process.once("exit", killOnExit)
  const exited = once(child, "exit").then(() => void process.off("exit", killOnExit))
  await waitForPong(chosen, child, () => output)
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGCONT")
      child.kill("SIGKILL")
      await exited
    },
    freeze: () => void child.kill("SIGSTOP"),
    thaw: () => void child.kill("SIGCONT")
  }
}

/**
 * A one-node Redis Cluster owning all 16384 slots: it refuses, like any cluster, a script whose
 * keys are not all in one slot.
 */
export const startRedisCluster = async (): Promise<RedisServer> => {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), "effect-grok-cluster-"))
  const server = await startRedisServer(port, [
    "--cluster-enabled",
    "yes",
    // A lone node does not know its own address until told; clients need it in CLUSTER SLOTS.
    "--cluster-announce-ip",
    "127.0.0.1",
    "--dir",
    dir
  ])
  const kill = async () => {
    await server.kill()
    await rm(dir, { recursive: true, force: true })
  }
  const admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    await admin.connect()
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    const deadline = performance.now() + 10_000
    while (!String(await admin.call("CLUSTER", "INFO")).includes("cluster_state:ok")) {
      if (performance.now() > deadline) throw new Error("the one-node cluster did not become ready")
      await delay(20)
    }
  } catch (error) {
    await kill()
    throw error
  } finally {
    admin.disconnect()
  }
  return { ...server, kill }
}

let prefixes = 0

/** A key prefix no other test (in this file or another worker) shares: tests never see each other's keys. */
export const freshPrefix = (): string => `effect-grok-test:${process.pid}:${++prefixes}`
