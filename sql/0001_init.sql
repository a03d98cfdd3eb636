-- The domain store. Applied by `desainz migrate` inside one transaction, so no CONCURRENTLY.
-- {{EMBEDDING_DIM}} is substituted from EMBEDDING_DIM (default 384) before this runs; changing it
-- later changes this file's checksum and the runner refuses, since the column would not match.

create extension if not exists vector;

-- One row per signal.ingested event. Both keys dedupe: a redelivered event by id, the same
-- content seen by two sources (or twice by one) by its hash.
create table signals (
  id            uuid primary key,
  content       text not null,
  source        text not null check (source <> ''),
  captured_at   timestamptz not null,
  metadata      jsonb not null default '{}',
  content_hash  char(32) not null unique,
  ingested_at   timestamptz not null default now()
);
create index signals_captured_at_idx on signals (captured_at desc);
create index signals_source_captured_at_idx on signals (source, captured_at desc);

-- weights_version is not a foreign key: backtests score with candidate weight sets that are
-- never stored unless promoted.
create table ideas (
  id               uuid primary key,
  signal_id        uuid not null references signals (id),
  title            text not null,
  description      text not null default '',
  embedding        vector({{EMBEDDING_DIM}}),
  score            double precision not null,
  factors          jsonb not null default '{}',
  weights_version  integer not null,
  status           text not null default 'queued' check (status in ('queued', 'mocked', 'live', 'archived')),
  review_status    text not null default 'pending' check (review_status in ('pending', 'approved', 'rejected')),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);
create index ideas_status_score_idx on ideas (status, score desc);
create index ideas_created_at_idx on ideas (created_at desc);
create index ideas_signal_id_idx on ideas (signal_id);
-- PGlite's pgvector (0.8.x) builds HNSW like the server extension does, so both engines share this index.
create index ideas_embedding_hnsw_idx on ideas using hnsw (embedding vector_cosine_ops);

-- colorway is '' (not NULL) for the default garment colour, so the unique key also
-- deduplicates those rows: NULLs never collide in a unique index.
create table mockups (
  id                 uuid primary key,
  idea_id            uuid not null references ideas (id),
  blob_uri           text not null check (blob_uri <> ''),
  variant            text not null check (variant in ('front', 'back', 'colorway')),
  colorway           text not null default '',
  generation_params  jsonb not null default '{}',
  ctr                double precision,
  created_at         timestamptz not null default now(),
  unique (idea_id, variant, colorway)
);

create table listings (
  id            uuid primary key,
  idea_id       uuid not null references ideas (id),
  marketplace   text not null check (marketplace <> ''),
  external_id   text,
  url           text,
  title         text not null,
  description   text not null default '',
  tags          text[] not null default '{}',
  status        text not null default 'draft' check (status in ('draft', 'approved', 'published', 'failed')),
  performance   jsonb not null default '{}',
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  published_at  timestamptz,
  unique (idea_id, marketplace)
);
create index listings_status_idx on listings (status, updated_at desc);

create table feedback_events (
  id           uuid primary key,
  listing_id   uuid not null references listings (id),
  kind         text not null check (kind <> ''),
  value        double precision not null,
  occurred_at  timestamptz not null,
  payload      jsonb not null default '{}'
);
create index feedback_events_listing_occurred_at_idx on feedback_events (listing_id, occurred_at);

create table scoring_weights (
  version     serial primary key,
  weights     jsonb not null,
  created_at  timestamptz not null default now(),
  note        text not null default '',
  promoted    boolean not null default false
);
create index scoring_weights_promoted_idx on scoring_weights (version desc) where promoted;

create table backtest_runs (
  id           uuid primary key,
  started_at   timestamptz not null,
  finished_at  timestamptz,
  params       jsonb not null default '{}',
  results      jsonb not null default '{}',
  winner       jsonb
);
create index backtest_runs_started_at_idx on backtest_runs (started_at desc);
