-- The row lock is held to commit: appends are serialized, which is what
-- makes positions gapless and commit-ordered.
select seq from {{.schema}}.log_head for update
