-- The feedback loop: feedback events attributed listing -> idea -> signal, the cumulative
-- counters marketplaces report (differenced against the last value stored), A/B experiments
-- and their periods, the daily promotion allocation, learner runs and the SLA alert's state.

-- Attribution, resolved once when the event is stored, so readers need no three-way join.
alter table feedback_events add column idea_id uuid references ideas (id);
alter table feedback_events add column signal_id uuid references signals (id);
alter table feedback_events add column marketplace text not null default '';
alter table feedback_events add column received_at timestamptz not null default now();
create index feedback_events_idea_occurred_at_idx on feedback_events (idea_id, occurred_at);
create index feedback_events_occurred_at_idx on feedback_events (occurred_at);

-- The last cumulative value seen per listing and counter (Etsy views, num_favorers): an
-- observation stores its difference to this and moves it, in one transaction.
create table feedback_counters (
  listing_id   uuid not null references listings (id),
  kind         text not null,
  total        double precision not null,
  observed_at  timestamptz not null,
  primary key (listing_id, kind)
);

-- An A/B micro-test between variants of one listing (e.g. which mock-up is the primary image).
create table experiments (
  id            uuid primary key,
  listing_id    uuid not null references listings (id),
  name          text not null,
  metric        text not null check (metric in ('ctr', 'conversion')),
  variants      jsonb not null,
  threshold     double precision not null,
  horizon_days  integer not null,
  period_hours  integer not null,
  seed          integer not null,
  status        text not null default 'running' check (status in ('running', 'stopped')),
  started_at    timestamptz not null,
  ended_at      timestamptz,
  winner        text,
  stop_reason   text,
  posterior     jsonb not null default '{}'
);
create index experiments_status_idx on experiments (status, started_at desc);

-- Which variant was shown from when: trials and successes are counted from the listing's
-- feedback inside each period.
create table experiment_periods (
  experiment_id  uuid not null references experiments (id),
  starts_at      timestamptz not null,
  variant        text not null,
  primary key (experiment_id, starts_at)
);

-- The daily promotion budget split across live listings by Thompson sampling.
create table promotion_allocations (
  day           date not null,
  listing_id    uuid not null references listings (id),
  share         double precision not null,
  amount_cents  integer not null,
  p_best        double precision not null,
  alpha         double precision not null,
  beta          double precision not null,
  primary key (day, listing_id)
);

-- One row per learner run (per closed event-time day): the figures and the decision.
create table learner_runs (
  day               date primary key,
  ran_at            timestamptz not null default now(),
  outcome           text not null,
  items             integer not null,
  promoted_version  integer references scoring_weights (version),
  reason            text not null,
  figures           jsonb not null default '{}'
);

-- Alert state survives restarts: open or not, when it last fired.
create table alert_state (
  name           text primary key,
  open           boolean not null,
  last_sent_at   timestamptz,
  last_value     double precision,
  updated_at     timestamptz not null default now()
);
