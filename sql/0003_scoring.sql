-- Scoring: the event time of each idea (its signal's capturedAt), which the near-duplicate
-- check windows on, and the record of signals merged into an existing idea.

-- NULL for ideas scored before this migration; the neighbour search skips them.
alter table ideas add column event_at timestamptz;
alter table ideas add column merge_count integer not null default 0;
create index ideas_event_at_idx on ideas (event_at);

-- One row per merged signal occurrence, keyed by the idea id it would have had (derived
-- from its correlation id), so a redelivered merge is recorded once.
create table idea_merges (
  merged_id   uuid primary key,
  idea_id     uuid not null references ideas (id),
  signal_id   uuid not null references signals (id),
  similarity  double precision not null,
  event_at    timestamptz not null,
  created_at  timestamptz not null default now()
);
create index idea_merges_idea_id_idx on idea_merges (idea_id);
