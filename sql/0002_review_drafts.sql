-- A listing waiting at the review gate keeps its full draft (artwork and mock-up
-- references included), so approving it later can put exactly that draft on
-- listings.approved without redoing any work.
alter table listings add column draft jsonb;
create index listings_waiting_idx on listings (idea_id) where draft is not null;
