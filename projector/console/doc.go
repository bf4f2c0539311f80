// Package console is orb-sync's built-in, read-only web console: search
// billing objects by id, external id, email or number; see an entity's
// current row, its related objects and its timeline (what each event
// changed, old -> new) as it stands now or as it stood at any moment; and
// watch the pipeline (log head, projection lag, dead letters, webhook
// outcomes, running jobs).
//
// It is a reader of the log and the tables, like the projector; timelines
// and as-of views come from the history tables (<table>_history). Pages are
// server-rendered html/template with one stylesheet and one small script
// (the pipeline page's refresh); every page is a plain GET link that can be
// pasted into a ticket. The only write is retrying dead letters, a POST
// guarded by a CSRF token. Handler is mounted by `orb-sync serve` on the
// admin listener only, and only when ADMIN_TOKEN is set.
package console
