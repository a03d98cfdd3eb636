/**
 * What every bench shares: the output contract (JSON lines on stdout, logs on stderr),
 * flag parsing, child processes that never outlive the bench, and small statistics.
 *
 * Children are tracked in one registry: a normal end stops them politely, and any exit
 * of this process (an error, SIGINT, SIGTERM) SIGKILLs whatever is left, so a failed run
 * leaves no redis-server or worker behind. (A SIGKILL of the bench itself cannot be
 * caught; children then have to be ended by hand.)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { parseArgs, type ParseArgsConfig } from "node:util"

/** One result line on stdout. */
export const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/** Progress on stderr. */
export const log = (message: string): void => {
  process.stderr.write(`${message}\n`)
}

export class UsageError extends Error {
  override readonly name = "UsageError"
}

/** Parses a bench's flags strictly; an unknown flag is a usage error naming the known ones. */
export const parseFlags = <O extends NonNullable<ParseArgsConfig["options"]>>(args: ReadonlyArray<string>, options: O) => {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values
  } catch (error) {
    const known = Object.keys(options).map((k) => `--${k}`).join(" ")
    throw new UsageError(`${error instanceof Error ? error.message : String(error)} (flags: ${known})`)
  }
}

export const intFlag = (name: string, value: string | undefined, fallback: number, min = 1): number => {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got "${value}"`)
  return n
}

export const numberFlag = (name: string, value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${value}"`)
  return n
}

/** Time measurements with the monotonic clock: the wall clock can be stepped by NTP. */
export const monotonicMs = (): number => performance.now()

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Elapsed ms that ignores jumps: a step longer than `maxStepMs` between two reads counts
 * as `maxStepMs`. This VM's clocks (wall and monotonic alike) have leapt minutes ahead
 * while the machine was otherwise idle, which must not time out a healthy wait.
 */
export const steadyClock = (maxStepMs = 1_000) => {
  let last = performance.now()
  let elapsed = 0
  return () => {
    const t = performance.now()
    elapsed += Math.min(t - last, maxStepMs)
    last = t
    return elapsed
  }
}

/** Polls `check` every `everyMs` until it returns true; fails with `what` after `timeoutMs`. */
export const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 50) => {
  const elapsed = steadyClock(Math.max(1_000, everyMs * 10))
  while (!(await check())) {
    if (elapsed() > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/**
 * Notices when this process's timers fire far too late: a clock jump or a stalled event
 * loop. A measurement taken across one is not to be trusted and should be repeated.
 */
export const watchClock = (thresholdMs = 1_000, everyMs = 50) => {
  let last = performance.now()
  let jumps = 0
  let worstMs = 0
  const timer = setInterval(() => {
    const t = performance.now()
    const late = t - last - everyMs
    if (late > thresholdMs) {
      jumps++
      worstMs = Math.max(worstMs, late)
    }
    last = t
  }, everyMs)
  timer.unref()
  return {
    jumps: () => jumps,
    worstMs: () => Math.round(worstMs),
    stop: () => clearInterval(timer)
  }
}

/**
 * How busy the machine is, to read a figure against: the 1-minute load average and the
 * share of time some task waited for a CPU (Linux PSI) since `start()`. On a shared
 * 2-core box other people's work moves every figure; this says by how much it was contended.
 */
export const machineLoad = () => {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, "utf8")
    } catch {
      return undefined
    }
  }
  const psiTotalUs = () => Number(/some .*total=(\d+)/.exec(read("/proc/pressure/cpu") ?? "")?.[1] ?? NaN)
  const load1 = Number((read("/proc/loadavg") ?? "").split(" ")[0] ?? NaN)
  const psi0 = psiTotalUs()
  const t0 = performance.now()
  return {
    load_1m: load1,
    /** % of the time since start some runnable task waited for a CPU (NaN without PSI). */
    cpuPressurePct: () => round((100 * (psiTotalUs() - psi0)) / 1000 / Math.max(1, performance.now() - t0), 1)
  }
}

/**
 * How busy the machine's cores were from now until the returned function is called: 100 is
 * every core busy all the time (from /proc/stat; NaN without it). Tells whether a case was
 * bound by the CPUs it shares with its servers.
 */
export const cpuBusy = () => {
  const jiffies = () => {
    try {
      const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
      const values = fields.map(Number)
      // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
      return { total: values.slice(0, 8).reduce((a, b) => a + b, 0), idle: values[3]! + values[4]! }
    } catch {
      return { total: NaN, idle: NaN }
    }
  }
  const start = jiffies()
  return () => {
    const end = jiffies()
    return round((100 * (end.total - start.total - (end.idle - start.idle))) / Math.max(1, end.total - start.total), 1)
  }
}

// ---------------------------------------------------------------------------------------
// Child processes

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  readonly running: () => boolean
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  readonly stop: (graceMs?: number) => Promise<number | null>
}

const children = new Set<Child>()
const exitHooks = new Set<() => void>()

/** Runs `hook` synchronously when this process exits for any reason (cleanup of temp dirs). */
export const onExit = (hook: () => void): (() => void) => {
  exitHooks.add(hook)
  return () => exitHooks.delete(hook)
}

const killEverything = () => {
  for (const child of children) if (child.running()) child.process.kill("SIGKILL")
  for (const hook of exitHooks) {
    try {
      hook()
    } catch {
      // best effort while exiting
    }
  }
}

let installed = false
const installHandlers = () => {
  if (installed) return
  installed = true
  process.on("exit", killEverything)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      log(`bench: ${signal}, killing ${children.size} child process(es)`)
      killEverything()
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1))
    })
  }
}

/**
 * Starts a child whose stdout and stderr go to our stderr, each line prefixed with
 * `[name]` (so its output can never reach our JSON stdout).
 */
export const spawnChild = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly quiet?: boolean } = {}
): Child => {
  installHandlers()
  const proc = spawn(command, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const prefix = (chunk: Buffer) => {
    if (options.quiet) return
    const text = chunk.toString("utf8").replace(/\n$/, "")
    if (text.length > 0) process.stderr.write(`${text.split("\n").map((l) => `[${name}] ${l}`).join("\n")}\n`)
  }
  proc.stdout?.on("data", prefix)
  proc.stderr?.on("data", prefix)
  const exited = new Promise<number | null>((resolve) => {
    proc.once("exit", (code) => resolve(code))
    proc.once("error", (error) => {
      log(`[${name}] cannot start ${command}: ${error.message}`)
      resolve(-1)
    })
  })
  const running = () => proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined
  const child: Child = {
    name,
    process: proc,
    exited,
    running,
    stop: async (graceMs = 10_000) => {
      if (running()) {
        proc.kill("SIGTERM")
        const timer = setTimeout(() => {
          if (running()) {
            log(`[${name}] did not exit ${graceMs} ms after SIGTERM; SIGKILL`)
            proc.kill("SIGKILL")
          }
        }, graceMs)
        await exited
        clearTimeout(timer)
      }
      children.delete(child)
      return exited
    }
  }
  children.add(child)
  void exited.then(() => {
    if (!running()) children.delete(child)
  })
  return child
}

/** Stops the given children in parallel. */
export const stopAll = (list: ReadonlyArray<Child>, graceMs?: number) => Promise.all(list.map((c) => c.stop(graceMs)))

// ---------------------------------------------------------------------------------------
// Statistics

/** The q-quantile (0..1) of sorted values, nearest rank. */
export const quantile = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Rounds for display in JSON: `digits` decimals. */
export const round = (value: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
