/**
 * The walking skeleton end to end, as a user runs it: `desainz start` on Redis with the
 * embedded PGlite store and a local blob folder, fed a small recording. Asserts the rows
 * (through a real `psql`), the print files, the review gate (approved in the UI, in
 * headless Chromium), and that a second run of the same input adds no rows and no files.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { promisify } from "node:util"
import sharp from "sharp"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { launchChromium } from "../ui/support/chromium.ts"
import { freePort } from "./support/redisServer.ts"
import { uniqueName } from "./support/harness.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const FIXTURE = new URL("./fixtures/signals.jsonl", import.meta.url).pathname
const TOKEN = "e2e-token"
const exec = promisify(execFile)

const dir = mkdtempSync(join(tmpdir(), "desainz-e2e-"))
const SHOTS = join(import.meta.dirname, "..", "test-results", "ui")
// The server serves the built UI; `npm start` builds it, a spawned `desainz start` does not.
beforeAll(() => {
  mkdirSync(SHOTS, { recursive: true })
  expect(spawnSync(process.execPath, [join(import.meta.dirname, "..", "ui", "ensure-built.mjs")], { stdio: "inherit" }).status).toBe(0)
}, 180_000)
const children: Array<ChildProcess> = []
afterAll(() => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")))

const start = async () => {
  const [port, pgPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, [BIN, "start"], {
    env: {
      ...process.env,
      REDIS_URL: inject("redisUrl"),
      TOPOLOGY_NAME: uniqueName("e2e"),
      OCCASIONS: "off",
      REPLAY_FILE: FIXTURE,
      REPLAY_FORMAT: "jsonl",
      REPLAY_SPEED: "0",
      REVIEW_AUTO_APPROVE: "0.7",
      PGLITE_DIR: join(dir, "pg"),
      PGLITE_PORT: String(pgPort),
      BLOB_DIR: join(dir, "blobs"),
      PORT: String(port),
      DESAINZ_TOKEN: TOKEN,
      LOG_LEVEL: "warning"
    },
    stdio: ["ignore", "inherit", "inherit"]
  })
  children.push(child)
  const base = `http://127.0.0.1:${port}`
  await waitFor("the server is ready", async () => (await fetch(`${base}/health/ready`).catch(() => undefined))?.ok === true, 120_000)
  return { child, base, pgPort }
}

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const snapshot = async (base: string) => (await (await fetch(`${base}/api/snapshot`)).json()) as any
const processed = (snap: any, node: string) => snap.nodes.find((n: any) => n.name === node).processed as number
const drained = (snap: any) => snap.streams.every((s: any) => s.groups.every((g: any) => g.pending === 0 && (g.lag ?? 0) === 0))

const psql = async (pgPort: number, query: string) =>
  (await exec("psql", ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-d", "postgres", "-At", "-c", query])).stdout.trim()

const counts = (pgPort: number) =>
  psql(
    pgPort,
    "select (select count(*) from signals)||','||(select count(*) from ideas)||','||(select count(*) from mockups)||','||(select count(*) from listings)||','||(select count(*) from listings where status='published')"
  )

/** Every blob file with its hash: a second run must leave this unchanged. */
const blobFiles = (): Record<string, string> => {
  const root = join(dir, "blobs")
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out[relative(root, p)] = createHash("sha256").update(readFileSync(p)).digest("hex")
    }
  }
  walk(root)
  return out
}

const stop = async (child: ChildProcess) => {
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
  child.kill("SIGTERM")
  expect(await exited).toBe(0)
}

describe("walking skeleton end to end (redis + PGlite + local blobs)", () => {
  let firstFiles: Record<string, string> = {}
  let firstCounts = ""

  it("turns recorded signals into ideas, print files, mock-ups and published export bundles", async () => {
    const { child, base, pgPort } = await start()
    // a-1 scores above the auto-approve line and publishes; b-1 and d-1 wait for review;
    // c-1 names a brand and is not selected; a-2 is a-1's headline again and is deduplicated.
    await waitFor(
      "the recording flows through",
      async () => {
        const s = await snapshot(base)
        return processed(s, "review") === 3 && processed(s, "publish") === 1 && drained(s)
      },
      180_000
    )
    const ideas = ((await (await fetch(`${base}/api/ideas`)).json()) as any).ideas as Array<any>
    expect(ideas).toHaveLength(4)
    const byPhrase = Object.fromEntries(ideas.map((i) => [i.title, i]))
    expect(byPhrase["Plant Mom Energy"].reviewStatus).toBe("approved")
    expect(byPhrase["Plant Mom Energy"].status).toBe("live")
    expect(byPhrase["Coffee First, Code Later"].reviewStatus).toBe("pending")
    expect(byPhrase["Plant Mom Energy"].mockups).toHaveLength(2)
    expect((await fetch(`${base}${byPhrase["Plant Mom Energy"].mockups[0].url}`)).headers.get("content-type")).toBe("image/jpeg")

    // The human side of the review gate: refused without the token, then approved by a
    // person in the UI (real Chromium against this server), which the store records.
    const coffee = byPhrase["Coffee First, Code Later"].ideaId
    expect((await fetch(`${base}/api/ideas/${coffee}/approve`, { method: "POST" })).status).toBe(401)
    expect((await fetch(`${base}/api/ideas/not-a-uuid/approve`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(400)
    const browser = await launchChromium()
    try {
      const page = await browser.context.newPage()
      await page.goto(`${base}/`)
      await page.evaluate(`sessionStorage.setItem("desainz.token", ${JSON.stringify(TOKEN)})`)
      await page.goto(`${base}/#/ideas`)
      const card = page.locator(`li[data-idea="${coffee}"]`)
      await card.waitFor()
      expect(await card.getByTestId("review-status").textContent()).toBe("pending")
      await card.getByRole("button", { name: /Approve/ }).click()
      await expect.poll(() => card.getByTestId("review-status").textContent(), { timeout: 20_000 }).toBe("approved")
      await page.screenshot({ path: join(SHOTS, "e2e-ideas-approved.png"), fullPage: true })
    } finally {
      await browser.close()
    }
    expect(await psql(pgPort, `select review_status from ideas where id = '${coffee}'`)).toBe("approved")
    await waitFor("the approved listing publishes", async () => processed(await snapshot(base), "publish") === 2, 60_000)

    // A real Postgres client reads the embedded database while it runs.
    expect(await counts(pgPort)).toBe("4,4,6,3,2")
    expect(await psql(pgPort, "select content from signals where content like '%Okayest%'")).toBe("World's Okayest Runner - contact me at [email]")
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/desainz_signal_to_publish_seconds_count\{marketplace="export"\} 2/)

    for (const idea of [byPhrase["Plant Mom Energy"], byPhrase["Coffee First, Code Later"]]) {
      const bundle = join(dir, "blobs", "published-assets", "export", idea.ideaId)
      expect(readdirSync(bundle).sort()).toEqual(["listing.csv", "listing.json", "mockup-front-black.jpg", "mockup-front-white.jpg", "print.png"])
      const png = await sharp(join(bundle, "print.png")).metadata()
      expect([png.width, png.height, png.density, png.hasAlpha, png.format]).toEqual([4500, 5400, 300, true, "png"])
      const listing = JSON.parse(readFileSync(join(bundle, "listing.json"), "utf8"))
      expect(listing.tags.length).toBeLessThanOrEqual(13)
      expect(listing.bullets).toHaveLength(5)
      expect(readFileSync(join(bundle, "listing.csv"), "utf8").split("\n")[0]).toMatch(/^listing_id,idea_id,title/)
    }
    firstCounts = await counts(pgPort)
    firstFiles = blobFiles()
    await stop(child)
  }, 400_000)

  it("running the same input again adds no rows and no files", async () => {
    const { child, base, pgPort } = await start()
    await waitFor(
      "the recording flows through again",
      async () => {
        const s = await snapshot(base)
        return processed(s, "review") === 3 && processed(s, "publish") === 1 && drained(s)
      },
      180_000
    )
    expect(await counts(pgPort)).toBe(firstCounts)
    expect(blobFiles()).toEqual(firstFiles)
    await stop(child)
  }, 400_000)
})
