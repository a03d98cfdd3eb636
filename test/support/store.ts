/** A migrated embedded store (PGlite in a fresh temporary folder) for one test file or scope. */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { Store } from "../../operators/store/store.ts"
import { migrate, Sql } from "../../runtime/sql.ts"

export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

/** Sql + Store on PGlite served on a free port, migrated. */
export const migratedStore = (prefix: string) =>
  Store.layer.pipe(
    Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(
      Layer.unwrapScoped(Effect.map(tempDir(prefix), (dir) => Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))
    )))
  )
