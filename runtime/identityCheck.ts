/**
 * A compiled shortcut for the per-entry schema work of the hot path. For a schema without
 * transformations, decoding a valid JSON value yields the value itself (minus excess keys),
 * and encoding one is the identity. `compileIdentityCheck` turns such a schema into one
 * plain predicate: true means "valid, and decoding or encoding gives this value back" (the
 * same as JSON: the codec only asks about values JSON.parse made, or ones it is about to
 * JSON.stringify), so the codec can use the value as it is. False means only "not sure":
 * the caller then runs the schema itself, which also words the error. The predicate
 * allocates nothing.
 *
 * Schemas it cannot judge exactly (transformations, declarations like `Date`, recursive
 * schemas, template literals, unions of several object types, where the schema would pick
 * a member and strip keys) compile to `undefined`: the codec then always runs the schema.
 */
import { type Option, type Schema, SchemaAST as AST } from "effect"

export type IdentityCheck = (value: unknown) => boolean

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** True when the AST holds an object type somewhere (whose excess keys a union member would strip). */
const holdsObject = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "TypeLiteral":
      return true
    case "Refinement":
      return holdsObject(ast.from)
    case "TupleType":
      return ast.elements.some((e) => holdsObject(e.type)) || ast.rest.some((r) => holdsObject(r.type))
    case "Union":
      return ast.types.some(holdsObject)
    default:
      return false
  }
}

const compile = (ast: AST.AST): IdentityCheck | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return (u) => typeof u === "string"
    case "NumberKeyword":
      return (u) => typeof u === "number"
    case "BooleanKeyword":
      return (u) => typeof u === "boolean"
    case "UndefinedKeyword":
      return (u) => u === undefined
    case "UnknownKeyword":
    case "AnyKeyword":
      return () => true
    case "Literal": {
      const literal = ast.literal
      return typeof literal === "bigint" ? undefined : (u) => u === literal
    }
    case "Enums": {
      const values = ast.enums.map(([, v]) => v)
      return (u) => values.includes(u as string | number)
    }
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      const filter = ast.filter
      const self = ast
      return (u) => from(u) && isNone(filter(u, AST.defaultParseOption, self))
    }
    case "TupleType": {
      if (ast.rest.length > 1) return undefined
      const elements = ast.elements.map((e) => compile(e.type))
      const rest = ast.rest.length === 1 ? compile(ast.rest[0]!.type) : null
      if (elements.some((e) => e === undefined) || rest === undefined) return undefined
      const checks = elements as ReadonlyArray<IdentityCheck>
      const required = ast.elements.filter((e) => !e.isOptional).length
      const fixed = checks.length
      return (u) => {
        if (!Array.isArray(u) || u.length < required) return false
        if (rest === null && u.length > fixed) return false
        for (let i = 0; i < u.length; i++) {
          if (!(i < fixed ? checks[i]! : rest!)(u[i])) return false
        }
        return true
      }
    }
    case "TypeLiteral": {
      if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
        return (u) => u !== null && u !== undefined
      }
      if (ast.propertySignatures.some((p) => typeof p.name !== "string")) return undefined
      // Only a plain `Record<string, V>` or plain properties: other index signatures restrict
      // keys, and properties beside an index signature are checked against both.
      if (ast.indexSignatures.length > 1) return undefined
      if (ast.indexSignatures.length === 1 && ast.propertySignatures.length > 0) return undefined
      const index = ast.indexSignatures[0]
      if (index !== undefined && index.parameter._tag !== "StringKeyword") return undefined
      const valueCheck = index === undefined ? null : compile(index.type)
      if (valueCheck === undefined) return undefined
      const props = ast.propertySignatures.map((p) => ({ name: p.name as string, optional: p.isOptional, check: compile(p.type) }))
      if (props.some((p) => p.check === undefined)) return undefined
      const known = new Set(props.map((p) => p.name))
      return (u) => {
        if (!isPlainObject(u)) return false
        let seen = 0
        for (const p of props) {
          if (!Object.prototype.hasOwnProperty.call(u, p.name)) {
            if (!p.optional) return false
            continue
          }
          if (!p.check!(u[p.name])) return false
          seen++
        }
        // Keys beyond the declared ones: the schema would strip them (or check them against the index signature).
        let keys = 0
        for (const key in u) {
          keys++
          // The schema writes its result with plain assignment, where `__proto__` is no key.
          if (key === "__proto__") return false
          if (valueCheck !== null && !known.has(key) && !valueCheck(u[key])) return false
        }
        return valueCheck !== null || keys === seen
      }
    }
    case "Union": {
      // A value matches at most one member that takes objects, so the schema's pick is that
      // member's (identical) result; two such members could both take an object, the first
      // stripping what the second declares. `optional(Struct)` is a union with undefined.
      const objectMembers = ast.types.filter(holdsObject).length
      if (objectMembers > 1) return undefined
      if (objectMembers === 1 && ast.types.some((t) => t._tag === "UnknownKeyword" || t._tag === "AnyKeyword")) return undefined
      const members = ast.types.map(compile)
      if (members.some((m) => m === undefined)) return undefined
      const checks = members as ReadonlyArray<IdentityCheck>
      return (u) => checks.some((check) => check(u))
    }
    default:
      return undefined
  }
}

const isNone = (o: Option.Option<unknown>): boolean => o._tag === "None"

/** The schema's identity check, or `undefined` when the schema must always be run. */
export const compileIdentityCheck = <A, I>(schema: Schema.Schema<A, I>): IdentityCheck | undefined => compile(schema.ast)
