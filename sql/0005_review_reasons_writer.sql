-- Why an idea waits for a person at the review gate (brand & IP safety hits on the idea or
-- its listing text, operators/safety/), shown in the Ideas view; and which writer wrote
-- each listing's text (template or llm), with the model or the reason for the fallback.
alter table ideas add column review_reasons jsonb not null default '[]'::jsonb;
alter table listings add column writer text check (writer in ('template', 'llm'));
alter table listings add column writer_note text;
