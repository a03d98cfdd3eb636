-- Who made an idea's pick: the reviewer (kept until they pick another candidate, whatever
-- later generations produce) or the quality checks (the default, which a later generation,
-- e.g. a refinement, may replace with a better candidate). Picks made before this column
-- existed cannot be told apart and count as the checks'.
alter table ideas add column picked_by text check (picked_by in ('checks', 'reviewer'));
update ideas set picked_by = 'checks' where picked_candidate_id is not null;
alter table ideas add constraint ideas_pick_has_author check ((picked_candidate_id is null) = (picked_by is null));
