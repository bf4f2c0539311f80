-- events.refs compressed with lz4, as the log's body and payload are (001).
-- With the embedded prices' fingerprints (022) a subscription event's refs
-- (~1.6 KB of text for a plan of ten prices) take its row past the size at
-- which PostgreSQL compresses inline values, so refs are now stored
-- compressed, with the default pglz; and refs are read by every
-- projection that ranks subscription events by their embedded objects,
-- several times per event and round. lz4 decompresses several times faster
-- than pglz. Only rows written from now on use it: a column's compression
-- applies when a value is stored, so this changes no existing row.
alter table {{.schema}}.events alter column refs set compression lz4;

---- create above / drop below ----

alter table {{.schema}}.events alter column refs set compression default;
