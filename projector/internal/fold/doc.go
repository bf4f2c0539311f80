// Package fold is how a table is folded from the log: the projection
// catalog (catalog.go: one declaration per table, spec.go: what a
// declaration may say), the SQL generated from it (sqlgen.go) and a Target
// that runs that SQL against one table, live or shadow (target.go), setting
// aside events the table refuses (deadletter.go). The rule it implements is
// described in package projector's documentation.
//
// It is internal to package projector: the runner, rebuild and verify use
// it; nothing outside projector may.
package fold
