package orbsync

import orbsql "github.com/orb-sync/orb-sync/sql"

// queries is this package's SQL, in sql/queries/eventlog/orbsync/ (one
// file per field, named by its tag; see package sql for the scheme). Each
// statement is named after what it does; values are always parameters.
type queries struct {
	LoadProgress    string `sql:"load_progress"`
	ListProgress    string `sql:"list_progress"`
	ResetProgress   string `sql:"reset_progress"`
	AdvanceProgress string `sql:"advance_progress"`
	FailProgress    string `sql:"fail_progress"`

	TryLock string `sql:"try_lock"`
	Unlock  string `sql:"unlock"`

	LoadCheckpoint string `sql:"load_checkpoint"`
	SaveSeq        string `sql:"save_seq"`
	SavePass       string `sql:"save_pass"`

	ExistingObjects    string `sql:"existing_objects"`
	StaleSubscriptions string `sql:"stale_subscriptions"`
	EventsAfter        string `sql:"events_after"`
}

var sqlFiles = orbsql.MustQueries[queries]("eventlog/orbsync")

func newQueries(schema string) queries { return sqlFiles.For(schema) }
