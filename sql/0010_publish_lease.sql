-- One publish of an (idea, marketplace) at a time: two deliveries of one approved listing
-- (an approval sent twice, an entry another consumer claimed) would otherwise both find no
-- listing on the marketplace and both create one. The first takes the lease until it ends
-- (or, if its process died, until `lease_until`); the other waits for it, then finds what
-- it made. A row made by the lease alone counts no attempt yet (`attempt` 0).
alter table publish_intents add column lease_until timestamptz;
