-- Artwork generations (one per gen.requests event; a refinement points at its parent) and their
-- candidates (one per seed), each with the quality checks of its print file and its mock-ups.
-- Ids derive from event ids, so a redelivered request writes the same rows.

create table generations (
  id           uuid primary key,
  idea_id      uuid not null references ideas (id),
  parent_id    uuid references generations (id),
  instruction  text,
  engine       text not null check (engine in ('procedural', 'comfyui')),
  -- the gen.requests payload, so a refinement can re-prompt the idea
  request      jsonb not null,
  created_at   timestamptz not null default now()
);
create index generations_idea_idx on generations (idea_id, created_at);

create table candidates (
  id              uuid primary key,
  generation_id   uuid not null references generations (id),
  idea_id         uuid not null references ideas (id),
  position        integer not null check (position >= 0),
  seed            text not null,
  format          text not null,
  print_file_key  text not null check (print_file_key <> ''),
  sha256          text not null,
  checks          jsonb not null,
  passed          boolean not null,
  mockups         jsonb not null default '[]',
  created_at      timestamptz not null default now(),
  unique (generation_id, position)
);
create index candidates_idea_idx on candidates (idea_id, created_at);

-- The reviewer's (or, until one picks, the best-by-checks) candidate of the idea.
alter table ideas add column picked_candidate_id uuid references candidates (id);
