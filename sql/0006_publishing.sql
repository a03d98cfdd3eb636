-- Publishing to marketplaces (issue 13, items 3-5).
--
-- Listing states: draft -> approved -> publishing -> published (a live marketplace listing)
-- or exported (a bulk-upload bundle for a marketplace without an upload API), or failed with
-- the marketplace's own reason. `remote_state` is the marketplace's word for the listing
-- (Etsy draft/active, Printify published).
alter table listings drop constraint listings_status_check;
alter table listings add constraint listings_status_check
  check (status in ('draft', 'approved', 'publishing', 'published', 'exported', 'failed'));
alter table listings add column reason text;
alter table listings add column remote_state text;
create index listings_external_idx on listings (marketplace, external_id) where external_id is not null;

-- A publish intent, written before the first remote create of an (idea, marketplace) and kept:
-- `created_at` is the earliest moment the remote listing can have been created, which is what
-- reconciliation after a lost create response searches from. `attempt` counts the publishes
-- started (redeliveries included); `remote_id` is set as soon as the marketplace's id is known.
create table publish_intents (
  idea_id      uuid not null references ideas (id),
  marketplace  text not null check (marketplace <> ''),
  title        text not null,
  attempt      integer not null default 1,
  remote_id    text,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (idea_id, marketplace)
);

-- Marketplace credentials (an Etsy refresh token), sealed with AES-256-GCM under a key from
-- the environment (DESAINZ_SECRET_KEY): the database never holds them in the clear.
create table marketplace_credentials (
  name        text primary key check (name <> ''),
  sealed      text not null,
  updated_at  timestamptz not null default now()
);
