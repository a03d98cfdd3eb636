/**
 * Fake Qdrant REST API (the subset the vector index uses), after Qdrant's OpenAPI schema as
 * bundled in @qdrant/js-client-rest 1.18.0 (dist/types/openapi/generated_schema.d.ts:
 * CollectionExistence, CollectionInfo, UpdateResult, ScoredPoint, ErrorResponse) and the
 * client's request paths (dist/esm/openapi/generated_api_client.js):
 *
 *   GET  /                                               {title, version, commit}
 *   GET  /collections/{name}/exists                      {result: {exists}}
 *   GET  /collections/{name}                             {result: CollectionInfo}, 404 when missing
 *   PUT  /collections/{name}                             {vectors: {size, distance}} -> {result: true}
 *   PUT  /collections/{name}/index?wait=                 {field_name, field_schema} -> UpdateResult
 *   PUT  /collections/{name}/points?wait=                {points: [{id, vector, payload}]} -> UpdateResult
 *   POST /collections/{name}/points/delete?wait=         {points: [id]} (PointIdsList) -> UpdateResult
 *   POST /collections/{name}/points/search               SearchRequest -> [ScoredPoint]
 *   POST /collections/{name}/points/search/batch         {searches: [SearchRequest]} -> [[ScoredPoint]]
 *
 * Every answer is the envelope {result, status: "ok", time}; errors are
 * {status: {error}, time} with Qdrant's status codes and wording (404 "Not found:
 * Collection `x` doesn't exist!", 400 "Wrong input: ..." for a dimension mismatch or an
 * existing collection). Cosine collections normalize vectors on upsert, as Qdrant does, and
 * score by dot product. Filters: must / must_not / should of `key` + `range` (gt, gte, lt,
 * lte) or `match` ({value}), and `has_id`. The search is exact (the real one is HNSW).
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { startFake } from "./server.ts"

type PointId = string | number
interface Point {
  readonly id: PointId
  readonly vector: ReadonlyArray<number>
  readonly payload: Record<string, unknown>
  readonly version: number
}
interface Collection {
  readonly size: number
  readonly distance: "Cosine" | "Dot" | "Euclid" | "Manhattan"
  readonly points: Map<string, Point>
  readonly payloadSchema: Record<string, { data_type: string }>
}

type Condition = {
  readonly key?: string
  readonly range?: { readonly gt?: number; readonly gte?: number; readonly lt?: number; readonly lte?: number }
  readonly match?: { readonly value?: unknown }
  readonly has_id?: ReadonlyArray<PointId>
}
interface Filter {
  readonly must?: ReadonlyArray<Condition>
  readonly must_not?: ReadonlyArray<Condition>
  readonly should?: ReadonlyArray<Condition>
}
interface SearchRequest {
  readonly vector: ReadonlyArray<number>
  readonly filter?: Filter
  readonly limit: number
  readonly offset?: number
  readonly with_vector?: boolean
  readonly with_payload?: boolean | ReadonlyArray<string>
  readonly score_threshold?: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const startQdrantFake = () =>
  Effect.gen(function* () {
    const collections = new Map<string, Collection>()
    let operation = 0
    const started = performance.now()
    const time = () => (performance.now() - started) / 1e6
    const app = new Hono()
    const ok = (c: { json: (body: unknown, status?: 200) => Response }, result: unknown) => c.json({ result, status: "ok", time: time() })
    const fail = (status: 400 | 404 | 422, error: string) => new Response(JSON.stringify({ status: { error }, time: time() }), { status, headers: { "content-type": "application/json" } })
    const missing = (name: string) => fail(404, `Not found: Collection \`${name}\` doesn't exist!`)
    const body = async <A>(req: { json: () => Promise<unknown> }): Promise<A | undefined> => {
      try {
        return (await req.json()) as A
      } catch {
        return undefined
      }
    }
    const holds = (point: Point, c: Condition): boolean => {
      if (c.has_id !== undefined) return c.has_id.some((id) => String(id) === String(point.id))
      const value = c.key === undefined ? undefined : point.payload[c.key]
      if (c.range !== undefined) {
        if (typeof value !== "number") return false
        const r = c.range
        return (r.gt === undefined || value > r.gt) && (r.gte === undefined || value >= r.gte) && (r.lt === undefined || value < r.lt) && (r.lte === undefined || value <= r.lte)
      }
      if (c.match !== undefined) return value === c.match.value
      return false
    }
    const passes = (point: Point, f: Filter | undefined) =>
      f === undefined ||
      ((f.must ?? []).every((c) => holds(point, c)) &&
        !(f.must_not ?? []).some((c) => holds(point, c)) &&
        (f.should === undefined || f.should.length === 0 || f.should.some((c) => holds(point, c))))
    const normalize = (v: ReadonlyArray<number>) => {
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
      return v.map((x) => Math.fround(norm > 0 ? x / norm : 0))
    }
    const search = (col: Collection, s: SearchRequest): Array<unknown> | string => {
      if (!Array.isArray(s.vector) || s.vector.length !== col.size) return `Wrong input: Vector dimension error: expected dim: ${col.size}, got ${Array.isArray(s.vector) ? s.vector.length : 0}`
      const q = col.distance === "Cosine" ? normalize(s.vector) : s.vector
      const scored = [...col.points.values()]
        .filter((p) => passes(p, s.filter))
        .map((p) => ({ p, score: Math.fround(p.vector.reduce((sum, x, i) => sum + x * q[i]!, 0)) }))
        .filter((x) => s.score_threshold === undefined || x.score >= s.score_threshold)
        .sort((a, b) => b.score - a.score)
        .slice(s.offset ?? 0, (s.offset ?? 0) + s.limit)
      return scored.map(({ p, score }) => ({
        id: p.id,
        version: p.version,
        score,
        payload:
          s.with_payload === false ? null : Array.isArray(s.with_payload) ? Object.fromEntries(s.with_payload.filter((k) => k in p.payload).map((k) => [k, p.payload[k]])) : p.payload,
        vector: s.with_vector === true ? p.vector : null,
        shard_key: null,
        order_value: null
      }))
    }

    app.get("/", (c) => c.json({ title: "qdrant - vector search engine", version: "1.12.0", commit: "fake" }))
    app.get("/collections/:name/exists", (c) => ok(c, { exists: collections.has(c.req.param("name")) }))
    app.get("/collections/:name", (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      return ok(c, {
        status: "green",
        optimizer_status: "ok",
        indexed_vectors_count: 0,
        points_count: col.points.size,
        segments_count: 1,
        config: {
          params: { vectors: { size: col.size, distance: col.distance }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true },
          hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
          optimizer_config: { deleted_threshold: 0.2, vacuum_min_vector_number: 1000, default_segment_number: 0, max_segment_size: null, memmap_threshold: null, indexing_threshold: 20000, flush_interval_sec: 5, max_optimization_threads: null },
          wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
          quantization_config: null
        },
        payload_schema: Object.fromEntries(Object.entries(col.payloadSchema).map(([k, v]) => [k, { ...v, points: col.points.size }]))
      })
    })
    app.put("/collections/:name", async (c) => {
      const name = c.req.param("name")
      if (collections.has(name)) return fail(400, `Wrong input: Collection \`${name}\` already exists!`)
      const b = await body<{ vectors?: { size?: unknown; distance?: unknown } }>(c.req)
      const size = b?.vectors?.size
      const distance = b?.vectors?.distance
      if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || !["Cosine", "Dot", "Euclid", "Manhattan"].includes(String(distance))) {
        return fail(422, "Json deserialize error: missing field `vectors` or invalid size/distance")
      }
      collections.set(name, { size, distance: distance as Collection["distance"], points: new Map(), payloadSchema: {} })
      return ok(c, true)
    })
    app.put("/collections/:name/index", async (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      const b = await body<{ field_name?: unknown; field_schema?: unknown }>(c.req)
      if (typeof b?.field_name !== "string" || typeof b.field_schema !== "string") return fail(422, "Json deserialize error: missing field `field_name`")
      col.payloadSchema[b.field_name] = { data_type: b.field_schema }
      return ok(c, { operation_id: ++operation, status: c.req.query("wait") === "true" ? "completed" : "acknowledged" })
    })
    app.put("/collections/:name/points", async (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      const b = await body<{ points?: ReadonlyArray<{ id?: unknown; vector?: unknown; payload?: Record<string, unknown> }> }>(c.req)
      if (!Array.isArray(b?.points)) return fail(422, "Json deserialize error: missing field `points`")
      for (const p of b.points) {
        const id = p.id
        if (!((typeof id === "number" && Number.isInteger(id) && id >= 0) || (typeof id === "string" && UUID.test(id)))) {
          return fail(400, `Format error in JSON body: value ${String(id)} is not a valid point ID, valid values are either an unsigned integer or a UUID`)
        }
        if (!Array.isArray(p.vector) || p.vector.length !== col.size) {
          return fail(400, `Wrong input: Vector dimension error: expected dim: ${col.size}, got ${Array.isArray(p.vector) ? p.vector.length : 0}`)
        }
      }
      const op = ++operation
      for (const p of b.points) {
        const vector = p.vector as ReadonlyArray<number>
        col.points.set(String(p.id), { id: p.id as PointId, vector: col.distance === "Cosine" ? normalize(vector) : vector.map(Math.fround), payload: p.payload ?? {}, version: op })
      }
      return ok(c, { operation_id: op, status: c.req.query("wait") === "true" ? "completed" : "acknowledged" })
    })
    app.post("/collections/:name/points/delete", async (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      const b = await body<{ points?: ReadonlyArray<PointId> }>(c.req)
      if (!Array.isArray(b?.points)) return fail(422, "Json deserialize error: data did not match any variant of untagged enum PointsSelector")
      for (const id of b.points) col.points.delete(String(id))
      return ok(c, { operation_id: ++operation, status: c.req.query("wait") === "true" ? "completed" : "acknowledged" })
    })
    app.post("/collections/:name/points/search", async (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      const b = await body<SearchRequest>(c.req)
      if (b === undefined || typeof b.limit !== "number") return fail(422, "Json deserialize error: missing field `vector`")
      const result = search(col, b)
      return typeof result === "string" ? fail(400, result) : ok(c, result)
    })
    app.post("/collections/:name/points/search/batch", async (c) => {
      const col = collections.get(c.req.param("name"))
      if (col === undefined) return missing(c.req.param("name"))
      const b = await body<{ searches?: ReadonlyArray<SearchRequest> }>(c.req)
      if (!Array.isArray(b?.searches)) return fail(422, "Json deserialize error: missing field `searches`")
      const results = b.searches.map((s) => search(col, s))
      const error = results.find((r): r is string => typeof r === "string")
      return error !== undefined ? fail(400, error) : ok(c, results)
    })
    const fake = yield* startFake(app)
    return { ...fake, collections }
  })
