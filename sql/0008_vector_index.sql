-- The HNSW index on ideas.embedding belongs to the pgvector vector index layer
-- (operators/scoring/vectorIndex.ts), which creates it when it starts: with Redis or Qdrant
-- holding the vectors, every idea insert would otherwise still pay for an HNSW insert that
-- no query uses (on an embedded PGlite, one session, that is most of an upsert's cost).
drop index if exists ideas_embedding_hnsw_idx;
