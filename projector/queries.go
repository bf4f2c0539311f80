package projector

import orbsql "github.com/orb-sync/orb-sync/sql"

// queries is this package's static SQL, in sql/queries/projector/ (one
// file per field, named by its tag; see package sql for the scheme). The
// statements that name a projection's tables or columns are built from the
// catalog in Go.
type queries struct {
	LockCheckpoint     string `sql:"lock_checkpoint"`
	ReadCheckpoint     string `sql:"read_checkpoint"`
	SetCheckpoint      string `sql:"set_checkpoint"`
	AdvanceCheckpoint  string `sql:"advance_checkpoint"`
	AdvanceCheckpoints string `sql:"advance_checkpoints"`
	EnsureCheckpoints  string `sql:"ensure_checkpoints"`
	ReadCheckpoints    string `sql:"read_checkpoints"`
	SlowestCheckpoint  string `sql:"slowest_checkpoint"`
	SetPaused          string `sql:"set_paused"`
	PausedCheckpoint   string `sql:"paused_checkpoint"`

	ListDeadLetters           string `sql:"list_dead_letters"`
	OldestDeadLetters         string `sql:"oldest_dead_letters"`
	DeadLettersBeyond         string `sql:"dead_letters_beyond"`
	ListUnresolvedDeadLetters string `sql:"list_unresolved_dead_letters"`
	ResolveRebuiltDeadLetters string `sql:"resolve_rebuilt_dead_letters"`
	PublishDeadLetters        string `sql:"publish_dead_letters"`
	ForgetDeadLetters         string `sql:"forget_dead_letters"`

	Status string `sql:"status"`
	Leader string `sql:"leader"`

	Changes      string `sql:"changes"`
	RedefineAsOf string `sql:"redefine_as_of"`

	TryLock string `sql:"try_lock"`
	Unlock  string `sql:"unlock"`

	LiftStatementTimeout string `sql:"lift_statement_timeout"`
	SetLockTimeout       string `sql:"set_lock_timeout"`
	TableExists          string `sql:"table_exists"`
	SchemaExists         string `sql:"schema_exists"`
	BackendPID           string `sql:"backend_pid"`
	ScratchDDL           string `sql:"scratch_ddl"`
	Indexes              string `sql:"indexes"`
	Dependents           string `sql:"dependents"`
	TableProps           string `sql:"table_props"`
}

var sqlFiles = orbsql.MustQueries[queries]("projector")

// sqlFor returns the statements for schema.
func sqlFor(schema string) queries { return sqlFiles.For(schema) }
